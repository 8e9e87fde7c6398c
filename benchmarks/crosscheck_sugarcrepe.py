"""SugarCrepe accuracy per subset: ours (`cf-vlm eval --task sugarcrepe`) against LAION's clip-benchmark, same
checkpoint, same folder.

    python benchmarks/crosscheck_sugarcrepe.py [--data-dir SUGARCREPE_ROOT] [--model CHECKPOINT] [--json OUT]

* ``--data-dir``: a SugarCrepe folder (``<root>/<subset>.json``, ``<root>/val2017/``); default: the test suite's
  fixture (scikit-image / scikit-learn photographs with written captions) built in a temporary folder.
* ``--model``: any Hugging Face dual encoder folder or Hub id; default: the test suite's tiny CLIP (random weights,
  a word-level tokenizer that knows every fixture word).

clip-benchmark (``pip install --no-deps clip-benchmark``) is run through its own dataset builder
(``clip_benchmark.datasets.builder.build_dataset("sugar_crepe/<subset>", ...)``) and metric
(``clip_benchmark.metrics.image_caption_selection.evaluate``, ``amp=False``), one call per subset so every subset
is scored (its all-subsets CLI keeps only the last one when ``--output`` is a fixed name: LAION-AI/CLIP_benchmark
#128). Its builder imports torchvision, which cannot be installed here: a stub with the names it imports is put in
``sys.modules`` first (nothing of it runs for SugarCrepe). Our model is wrapped open_clip-style
(``encode_image`` / ``encode_text``).

The two tools break ties differently: SugarCrepe's rule (ours) counts an exact tie between the caption and the
negative as wrong, clip-benchmark's ``argmax`` (caption first) as right. The script prints our strict accuracy, our
accuracy under the ``argmax`` rule and clip-benchmark's, with the number of exact ties; it exits 1 unless our
``argmax``-rule accuracy equals clip-benchmark's for every subset, and our strict one does wherever there is no tie.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import types
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
SUBSETS = ("add_att", "add_obj", "replace_att", "replace_obj", "replace_rel", "swap_att", "swap_obj")
TORCHVISION_NAMES = {
    "torchvision.datasets": ["CIFAR10", "CIFAR100", "DTD", "GTSRB", "MNIST", "PCAM", "STL10", "SUN397",
                             "CocoCaptions", "Country211", "EuroSAT", "FGVCAircraft", "Flowers102", "Food101",
                             "ImageFolder", "ImageNet", "OxfordIIITPet", "RenderedSST2", "StanfordCars",
                             "VisionDataset"],
    "torchvision.transforms": ["Compose"],
}


@contextlib.contextmanager
def torchvision_stub():
    """A stand-in torchvision in sys.modules while clip-benchmark's builder is imported: the names it imports,
    none usable. The previous entries (none, normally) are put back afterwards, so nothing else sees the stub."""
    saved = {k: v for k, v in sys.modules.items() if k == "torchvision" or k.startswith("torchvision.")}

    class Unavailable:
        def __init__(self, *args, **kwargs):
            raise RuntimeError("torchvision is stubbed by crosscheck_sugarcrepe.py")

    def unavailable(*args, **kwargs):
        raise RuntimeError("torchvision is stubbed by crosscheck_sugarcrepe.py")

    modules = {name: types.ModuleType(name) for name in ("torchvision", "torchvision.datasets",
                                                          "torchvision.datasets.utils", "torchvision.datasets.vision",
                                                          "torchvision.transforms")}
    for module, names in TORCHVISION_NAMES.items():
        for name in names:
            setattr(modules[module], name, type(name, (Unavailable,), {}))
    modules["torchvision.datasets.vision"].VisionDataset = modules["torchvision.datasets"].VisionDataset
    for name in ("download_and_extract_archive", "verify_str_arg", "download_url"):
        setattr(modules["torchvision.datasets.utils"], name, unavailable)
    for parent, child in (("torchvision", "datasets"), ("torchvision", "transforms"),
                          ("torchvision.datasets", "utils"), ("torchvision.datasets", "vision")):
        setattr(modules[parent], child, modules[f"{parent}.{child}"])
    sys.modules.update(modules)
    try:
        yield
    finally:
        for name in modules:
            sys.modules.pop(name, None)
        sys.modules.update(saved)


class OpenClipStyle(torch.nn.Module):
    """A Hugging Face dual encoder seen as clip-benchmark expects: ``encode_image(pixels)``, ``encode_text(tokens)``.

    ``tokens`` are the input ids and the attention mask side by side, (N, 2L), as :meth:`tokenize` returns them.
    """

    def __init__(self, model, processor, max_length: int = 77):
        super().__init__()
        self.model, self.processor = model, processor
        self.max_length = min(max_length, processor.tokenizer.model_max_length)

    def transform(self, image):
        return self.processor.image_processor(images=image.convert("RGB"), return_tensors="pt")["pixel_values"][0]

    def tokenize(self, texts):
        tokens = self.processor.tokenizer(list(texts), padding="max_length", truncation=True,
                                          max_length=self.max_length, return_tensors="pt")
        return torch.cat([tokens["input_ids"], tokens["attention_mask"]], dim=1)

    def encode_image(self, pixels):
        out = self.model.get_image_features(pixel_values=pixels)
        return out if torch.is_tensor(out) else out.pooler_output

    def encode_text(self, tokens):
        ids, mask = tokens.split(tokens.shape[1] // 2, dim=1)
        out = self.model.get_text_features(input_ids=ids, attention_mask=mask)
        return out if torch.is_tensor(out) else out.pooler_output


def ours(scorer, root: str) -> dict[str, dict]:
    """Our accuracy per subset (SugarCrepe's strict rule and the argmax rule) and the number of exact ties, with any
    `cf_vlm_hf.evaluation.PairScorer` (``build_pair_scorer(model, processor)`` for a checkpoint)."""
    from cf_vlm_hf.evaluation import get_task
    from cf_vlm_hf.evaluation.tasks.choices import choice_scores

    task = get_task("sugarcrepe", root)
    data = task.load()
    strict = task.evaluate(scorer, data).metrics
    first = get_task("sugarcrepe", root, ties="first").evaluate(scorer, data).metrics
    out = {}
    for subset, items in data.subsets.items():
        scores = choice_scores(scorer, items)
        out[subset] = {"items": len(items), "strict": strict[f"{subset}/accuracy"],
                       "argmax": first[f"{subset}/accuracy"], "ties": int((scores[:, 0] == scores[:, 1]).sum())}
    return out


def clip_benchmark_accuracy(wrapped, root: str, subsets, batch_size: int = 16) -> dict[str, float]:
    """clip-benchmark's SugarCrepe accuracy (``acc``) for each subset, one builder + metric call per subset.

    ``wrapped``: an open_clip-style model with ``encode_image``, ``encode_text``, ``transform`` and ``tokenize``
    (:class:`OpenClipStyle` for a Hugging Face dual encoder)."""
    with torchvision_stub():
        from clip_benchmark.datasets.builder import build_dataset, get_dataset_collate_fn
        from clip_benchmark.metrics import image_caption_selection

    results = {}
    for subset in subsets:
        dataset = build_dataset(f"sugar_crepe/{subset}", root=root, transform=wrapped.transform, split="test",
                                download=False, task="image_caption_selection")
        loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False,
                                             collate_fn=get_dataset_collate_fn(f"sugar_crepe/{subset}"))
        metrics = image_caption_selection.evaluate(wrapped, loader, wrapped.tokenize, device="cpu", amp=False)
        results[subset] = metrics["acc"]
    missing = [s for s in subsets if s not in results]
    if missing:
        raise RuntimeError(f"clip-benchmark scored no result for {missing}")
    return results


def crosscheck(model, processor, root: str) -> dict[str, dict]:
    """Per subset of a checkpoint's run: items, ties, ours (strict), ours (argmax rule), clip-benchmark, agree."""
    from cf_vlm_hf.evaluation import build_pair_scorer

    table = ours(build_pair_scorer(model, processor, progress=False), root)
    return compare(table, clip_benchmark_accuracy(OpenClipStyle(model, processor).eval(), root, list(table)))


def compare(table: dict[str, dict], theirs: dict[str, float]) -> dict[str, dict]:
    """Add clip-benchmark's accuracy and whether the tools agree to our per-subset rows."""
    for subset, row in table.items():
        row["clip_benchmark"] = theirs[subset]
        # Compare items right, not floats: clip-benchmark averages in float32, we in float64.
        right = {k: round(row[k] * row["items"]) for k in ("strict", "argmax", "clip_benchmark")}
        row["agree"] = right["argmax"] == right["clip_benchmark"] and (
            row["ties"] > 0 or right["strict"] == right["clip_benchmark"])
    return table


def default_fixture(folder: str):
    sys.path.insert(0, str(REPO / "tests"))
    from testing_utils.benchmarks import fixture_clip, write_sugarcrepe

    return write_sugarcrepe(folder), fixture_clip(seed=0)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", "--data_dir", default=None, help="SugarCrepe folder (default: the fixture)")
    parser.add_argument("--model", default=None, help="dual-encoder checkpoint (default: the tests' tiny CLIP)")
    parser.add_argument("--json", default=None, help="write the table as JSON here")
    args = parser.parse_args(argv)
    torch.set_num_threads(min(4, os.cpu_count() or 1))
    with tempfile.TemporaryDirectory() as scratch:
        root, (model, processor) = default_fixture(scratch) if args.data_dir is None or args.model is None else \
            (None, (None, None))
        root = args.data_dir or root
        if args.model:
            from cf_vlm_hf.models.loading import load_model_and_processor

            model, processor = load_model_and_processor(args.model, adapter="merged")
        table = crosscheck(model.eval(), processor, root)
    print(f"SugarCrepe, {args.model or 'tiny CLIP (tests/testing_utils, seed 0)'} on "
          f"{args.data_dir or 'the photo fixture (3 items per subset)'}; CPU")
    print(f"{'subset':12s} {'items':>6s} {'ties':>5s} {'ours':>8s} {'ours/argmax':>12s} {'clip-benchmark':>15s}")
    for subset, row in table.items():
        print(f"{subset:12s} {row['items']:6d} {row['ties']:5d} {row['strict']:8.4f} {row['argmax']:12.4f} "
              f"{row['clip_benchmark']:15.4f}{'' if row['agree'] else '   DISAGREE'}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(table, f, indent=2)
    return 0 if all(row["agree"] for row in table.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
