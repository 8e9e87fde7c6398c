"""The compositional evaluation equals a naive computation with one forward per (image, caption) pair."""

import torch
import torch.nn.functional as F
from conftest import make_rows, tiny_clip

from cf_vlm_hf.evaluation import evaluate_counterfactual_split


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
