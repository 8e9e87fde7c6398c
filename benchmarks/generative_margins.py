"""Calibration of the generative margin defaults (csd_margin / fcd_margin in log-probability units).

    PYTHONPATH=.:tests python benchmarks/generative_margins.py [--families llava qwen2_vl] [--steps 40]

For each tiny test VLM (random weights, built from configs as in tests/generative_models.py), each score kind and
each margin, trains full fine-tuning for ``--steps`` steps of 8 anchors (2 counterfactual pairs, 1 colour edit
each) and prints, on 32 held-out anchors, before -> after: the caption NLL (L_align), the fcd / csd accuracies, the
mean gap S(I,T) - max_j S(E_j,T) and the mean gap S(I,T) - S(I'_k,T'_k), the cross accuracy (with
--pairing cross), plus the spread (std) of the anchor scores.
Numbers recorded in the README ("Generative VLMs").
"""

from __future__ import annotations

import argparse
import warnings

import torch

warnings.filterwarnings("ignore")


def gaps(trainer, rows):
    """Mean fcd gap, mean csd gap, cross accuracy and anchor-score std on ``rows`` (one batch, no gradient).

    Cross accuracy: the share of valid (anchor, k) with S(I,T) > S(I,T'_k) and S(I,T) > S(I'_k,T) (NaN when the
    batch has no cross scores, i.e. with the paper-form L_csd).
    """
    model = trainer.model.eval()
    batch = trainer._prepare_inputs(trainer.data_collator(rows))
    with torch.no_grad():
        _, scores = trainer.compute_loss(model, batch, return_outputs=True)
    hardest = scores.edit.masked_fill(~scores.edit_mask, float("-inf")).max(dim=1).values
    fcd = (scores.anchor - hardest).mean().item()
    csd = ((scores.anchor.unsqueeze(1) - scores.cf)[scores.cf_mask]).mean().item()
    cross = float("nan")
    if scores.anchor_image_cf_text is not None:
        anchor = scores.anchor.unsqueeze(1)
        wins = (anchor > scores.anchor_image_cf_text) & (anchor > scores.cf_image_anchor_text)
        cross = wins[scores.cf_mask].float().mean().item()
    return fcd, csd, cross, scores.anchor.std().item()


def main() -> None:
    from conftest import make_rows
    from generative_models import GENERATIVE_MODELS

    from cf_vlm_hf import CounterfactualConfig, CounterfactualTrainer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="+", default=["llava", "qwen2_vl"])
    parser.add_argument("--kinds", nargs="+", default=["caption-likelihood", "yes-probability"])
    parser.add_argument("--margins", nargs="+", type=float, default=[0.1, 0.3, 1.0, 3.0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--pairing", default="paper", choices=["paper", "cross"], help="form of L_csd")
    args = parser.parse_args()
    torch.set_num_threads(1)
    train, held_out = make_rows(64, seed=1, num_edits=1), make_rows(32, seed=2, num_edits=1)
    columns = "align_nll fcd_acc csd_acc fcd_gap csd_gap cross_acc anchor_std"
    print(f"family kind pairing margin | {columns} (before -> after)")
    for family in args.families:
        for kind in args.kinds:
            for margin in args.margins:
                model, processor = GENERATIVE_MODELS[family](seed=0)
                config = CounterfactualConfig(
                    output_dir="/tmp/cf-vlm-margins", per_device_train_batch_size=8, per_device_eval_batch_size=32,
                    learning_rate=args.lr, max_steps=args.steps, save_strategy="no", report_to="none", use_cpu=True,
                    seed=0, disable_tqdm=True, logging_steps=args.steps, generative_score=kind, csd_margin=margin,
                    fcd_margin=margin, scenario_pairing=args.pairing,
                )
                trainer = CounterfactualTrainer(model=model, args=config, train_dataset=train,
                                                eval_dataset=held_out, processing_class=processor)
                results = []
                for phase in ("before", "after"):
                    if phase == "after":
                        trainer.train()
                    metrics = trainer.evaluate()
                    results.append((metrics["eval_align_loss"], metrics["eval_fcd_accuracy"],
                                    metrics["eval_csd_accuracy"], *gaps(trainer, held_out)))
                cells = " ".join(f"{b:.2f}->{a:.2f}" for b, a in zip(*results))
                print(f"{family} {kind} {args.pairing} {margin} | {cells}", flush=True)


if __name__ == "__main__":
    main()
