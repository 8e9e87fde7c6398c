"""Benchmark fixtures: real photographs (scikit-image, scikit-learn) with hand-written captions, in each benchmark's
own folder layout, and a scorer of fixed scores to drive the tasks' metrics to known answers.

Nothing is downloaded: ``skimage.data`` and ``sklearn.datasets.load_sample_images`` ship their photographs.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache

import numpy as np
import torch
from PIL import Image

from cf_vlm_hf.evaluation.items import ImageRef
from cf_vlm_hf.evaluation.scoring import PairScorer

PHOTOS = ("astronaut", "camera", "chelsea", "coffee", "rocket", "coins", "clock", "horse", "hubble_deep_field",
          "immunohistochemistry", "retina", "china", "flower")

# SugarCrepe-style items per subset: (photo, caption, negative caption), written for these photographs.
SUGARCREPE = {
    "add_att": [("astronaut", "an astronaut posing next to a flag", "an astronaut posing next to a torn flag"),
                ("coffee", "a cup of coffee on a saucer", "a cup of iced coffee on a saucer"),
                ("flower", "an orange flower on a dark background", "an orange flower on a dark striped background")],
    "add_obj": [("chelsea", "a close-up of a tabby cat", "a close-up of a tabby cat and a dog"),
                ("rocket", "a rocket on a launch pad at night", "a rocket and a helicopter on a launch pad at night"),
                ("camera", "a man looking through a camera on a tripod",
                 "a man and a child looking through a camera on a tripod")],
    "replace_att": [("coffee", "a red cup of coffee on a wooden table", "a blue cup of coffee on a wooden table"),
                    ("chelsea", "a cat with green eyes", "a cat with blue eyes"),
                    ("camera", "a black and white photo of a photographer", "a colourful photo of a photographer")],
    "replace_obj": [("horse", "the black silhouette of a horse", "the black silhouette of a camel"),
                    ("china", "a pagoda on a hill above a lake", "a lighthouse on a hill above a lake"),
                    ("coins", "rows of old coins on a black background", "rows of old buttons on a black background")],
    "replace_rel": [("astronaut", "an astronaut standing in front of a flag", "an astronaut standing behind a flag"),
                    ("coffee", "a spoon lying on the saucer", "a spoon lying under the saucer"),
                    ("china", "a temple overlooking the water", "a temple submerged in the water")],
    "swap_att": [("coffee", "a red cup on a brown table", "a brown cup on a red table"),
                 ("flower", "an orange flower with green leaves", "a green flower with orange leaves"),
                 ("astronaut", "a woman in an orange suit beside a white helmet",
                  "a woman in a white suit beside an orange helmet")],
    "swap_obj": [("camera", "a man behind a camera", "a camera behind a man"),
                 ("coffee", "a cup on a saucer", "a saucer on a cup"),
                 ("rocket", "a rocket between two towers", "a tower between two rockets")],
}

# Winoground-style examples: (image 0, image 1, caption 0, caption 1, collapsed_tag).
WINOGROUND = [
    ("coffee", "flower", "a red cup in front of a brown table", "a brown table in front of a red cup", "Object"),
    ("camera", "astronaut", "a man in black holds the camera", "the camera holds a man in black", "Relation"),
    ("chelsea", "horse", "the animal looks at us", "we look at the animal", "Relation"),
    ("rocket", "china", "lights below a dark sky", "a dark sky below lights", "Object"),
]


@lru_cache(maxsize=None)
def photo(name: str, size: int = 64) -> Image.Image:
    """One of :data:`PHOTOS` as an RGB image whose longer side is ``size`` pixels."""
    if name in ("china", "flower"):
        from sklearn.datasets import load_sample_images

        array = load_sample_images().images[("china", "flower").index(name)]
    else:
        from skimage import data

        array = getattr(data, name)()
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    image = Image.fromarray(array).convert("RGB")
    scale = size / max(image.size)
    return image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))))


def save_photo(name: str, path: str, size: int = 64) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    photo(name, size).save(path)
    return path


def fixture_words() -> list[str]:
    """Every word of the fixtures' captions (for a tokenizer that tells them apart)."""
    texts = [t for items in SUGARCREPE.values() for _, a, b in items for t in (a, b)]
    texts += [t for example in WINOGROUND for t in example[2:4]]
    return sorted({w for t in texts for w in t.lower().replace(",", " ").split()})


def fixture_clip(seed: int = 0):
    """A tiny CLIP whose word-level tokenizer knows every fixture word (so no two captions tokenize alike)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, PreTrainedTokenizerFast

    torch.manual_seed(seed)
    vocab = {tok: i for i, tok in enumerate(["[PAD]", "[UNK]", "[BOS]", "[EOS]", *fixture_words()])}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.post_processor = processors.TemplateProcessing(
        single="[BOS] $A [EOS]", special_tokens=[("[BOS]", 2), ("[EOS]", 3)])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="[PAD]", unk_token="[UNK]",
                                        bos_token="[BOS]", eos_token="[EOS]", model_max_length=32)
    common = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4)
    config = CLIPConfig(text_config=dict(vocab_size=len(vocab), max_position_embeddings=32, eos_token_id=3,
                                         bos_token_id=2, pad_token_id=0, **common),
                        vision_config=dict(image_size=32, patch_size=8, **common), projection_dim=32)
    image_processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    return CLIPModel(config).eval(), CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer)


def coco_name(name: str) -> str:
    return f"{PHOTOS.index(name) + 1:012d}.jpg"


def write_sugarcrepe(root: str, subsets=tuple(SUGARCREPE)) -> str:
    """A SugarCrepe folder: <root>/<subset>.json and <root>/val2017/ (COCO-style file names, non-contiguous ids)."""
    for name in {p for items in SUGARCREPE.values() for p, _, _ in items}:
        save_photo(name, os.path.join(root, "val2017", coco_name(name)))
    for subset in subsets:
        entries = {str(10 * i + 3): {"filename": coco_name(p), "caption": pos, "negative_caption": neg}
                   for i, (p, pos, neg) in enumerate(SUGARCREPE[subset])}
        with open(os.path.join(root, f"{subset}.json"), "w", encoding="utf-8") as f:
            json.dump(entries, f)
    return root


def write_winoground(root: str) -> str:
    """The original Winoground release layout: examples.jsonl and images/ex_<id>_img_<k>.png."""
    lines = []
    for i, (p0, p1, c0, c1, tag) in enumerate(WINOGROUND):
        for k, p in enumerate((p0, p1)):
            save_photo(p, os.path.join(root, "images", f"ex_{i}_img_{k}.png"))
        lines.append(json.dumps({"id": i, "image_0": f"ex_{i}_img_0", "image_1": f"ex_{i}_img_1", "caption_0": c0,
                                 "caption_1": c1, "tag": "Noun", "secondary_tag": "", "num_main_preds": 1,
                                 "collapsed_tag": tag}))
    with open(os.path.join(root, "examples.jsonl"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return root


def write_json(path: str, content) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(content, f)
    return path


def write_jsonl(path: str, records) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write("".join(json.dumps(r) + "\n" for r in records))
    return path


class FixedScorer(PairScorer):
    """A pair scorer whose scores are a table: ``scores[(image name, text)]`` (``default`` elsewhere).

    The image name is the file name without extension (and ``#box=...`` for crops) or the in-memory key.
    ``answers[(image name, prompt)]`` gives ``answer_scores`` rows ({answer: log-probability}), ``generated``
    the ``generate_answers`` texts. ``calls`` counts the pairs scored.
    """

    def __init__(self, scores=None, default: float = 0.0, family: str = "dual-encoder", answers=None, generated=None):
        self.scores, self.default, self.family = dict(scores or {}), default, family
        self.answers, self.generated = dict(answers or {}), dict(generated or {})
        self.calls = 0

    @staticmethod
    def name(image: ImageRef) -> str:
        base, _, box = image.key.partition("#")
        stem = os.path.splitext(os.path.basename(base))[0] if image.path else base
        return stem + (f"#{box}" if box else "")

    def score_pairs(self, pairs):
        self.calls += len(pairs)
        return torch.tensor([self.scores.get((self.name(i), t), self.default) for i, t in pairs], dtype=torch.float64)

    def answer_scores(self, questions, answers):
        if self.family != "generative":
            return super().answer_scores(questions, answers)
        return torch.tensor([[self.answers[(self.name(i), q)][a] for a in answers] for i, q in questions])

    def generate_answers(self, questions, max_new_tokens=16):
        if self.family != "generative":
            return super().generate_answers(questions, max_new_tokens)
        return [self.generated[(self.name(i), q)] for i, q in questions]
