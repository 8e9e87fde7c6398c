"""The compositional evaluation equals a naive computation with one forward per (image, caption) pair."""

import pytest
import torch
import torch.nn.functional as F
from testing_utils import TINY_MODELS, make_rows, tiny_clip

from cf_vlm_hf.evaluation import BatchedEmbeddings, evaluate_counterfactual_split
from cf_vlm_hf.models import model_type
from cf_vlm_hf.models.dual_encoder import CounterfactualCollator, DualEncoderScorer, similarity, text_padding


def test_evaluation_matches_naive_per_pair_scores():
    model, processor = tiny_clip(seed=3)
    model.eval()
    rows = make_rows(10, seed=5)
    got = evaluate_counterfactual_split(model, processor, rows, batch_size=8, winoground_types=("color",),
                                        progress=False)

    def score(image, text):
        with torch.no_grad():
            out = model(**processor(text=[text], images=[image], return_tensors="pt", padding=True))
        return F.cosine_similarity(out.image_embeds, out.text_embeds).item()

    wins = {"image_side/color": [], "text_side/color": [], "image_side/shape": [], "text_side/shape": [],
            "winoground/color/group": []}
    for row in rows:
        s_it = score(row["image"], row["caption"])
        for image, kind, text in zip(row["edit_images"], row["edit_types"], row["edit_captions"]):
            s_et, s_ie, s_ee = score(image, row["caption"]), score(row["image"], text), score(image, text)
            wins[f"image_side/{kind}"].append(s_it > s_et)
            wins[f"text_side/{kind}"].append(s_it > s_ie)
            if kind == "color":
                wins["winoground/color/group"].append(s_it > s_ie and s_ee > s_et and s_it > s_et and s_ee > s_ie)
    for name, values in wins.items():
        assert got[name] == sum(values) / len(values), name
    assert got["count/color"] == 10 and got["count/shape"] == 10
    assert got["mean_image_side"] == (got["image_side/color"] + got["image_side/shape"]) / 2

    captions = sorted({row["caption"] for row in rows})
    correct = 0
    for row in rows:
        best = max(captions, key=lambda caption: score(row["image"], caption))
        correct += best == row["caption"]
    assert got["recall@1"] == correct / len(rows)


@pytest.mark.parametrize("family", sorted(TINY_MODELS))
def test_an_evaluated_pair_scores_as_in_training(family):
    """One S(I, T): the evaluation's batched embeddings give the training scorer's scores of the same pairs."""
    model, processor = TINY_MODELS[family](seed=1)
    model.eval()
    rows = make_rows(4, seed=2)
    padding = text_padding(model_type(model))
    with torch.no_grad():
        training = DualEncoderScorer().score(model, CounterfactualCollator(processor, padding=padding)(rows))
    embed = BatchedEmbeddings(model, processor, batch_size=3, padding=padding)  # other batches, other padding
    images, texts = embed.images([row["image"] for row in rows]), embed.texts([row["caption"] for row in rows])
    torch.testing.assert_close(similarity(images, texts), training.anchor, atol=2e-6, rtol=0)
    for b, row in enumerate(rows):
        edits = similarity(embed.images(row["edit_images"]), texts[b])
        torch.testing.assert_close(edits, training.edit[b, : len(row["edit_images"])], atol=2e-6, rtol=0)
        cf = similarity(embed.images(row["cf_images"]), embed.texts(row["cf_captions"]))
        torch.testing.assert_close(cf, training.cf[b, : len(row["cf_images"])], atol=2e-6, rtol=0)
