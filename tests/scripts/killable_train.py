"""Train a tiny CLIP for 6 steps (checkpoints every 2), optionally SIGKILLing itself on the way; digest the weights.

    python killable_train.py OUT_DIR [--kill-in-save N | --kill-after-step N] [--resume last] [--workers W]

``--kill-in-save N``: the process kills itself while writing checkpoint-N (after the model weights, before the
optimizer state and the completion marker). ``--kill-after-step N``: it kills itself right after step N. Rows hold
two counterfactual pairs and two edits, capped at one of each, so every batch draws a random subset. On a normal
end, ``OUT_DIR/digest.json`` holds a SHA-256 of every parameter's bytes.
"""

import argparse
import hashlib
import json
import os
import signal
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import torch  # noqa: E402
from testing_utils import make_rows, tiny_clip  # noqa: E402
from transformers import TrainerCallback  # noqa: E402

from cf_vlm_hf import CounterfactualConfig, CounterfactualTrainer  # noqa: E402


class KillAfterStep(TrainerCallback):
    def __init__(self, step):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--kill-in-save", type=int, default=None)
    parser.add_argument("--kill-after-step", type=int, default=None)
    parser.add_argument("--resume", default=None)
    parser.add_argument("--workers", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    model, processor = tiny_clip(seed=0)
    config = CounterfactualConfig(
        output_dir=args.out, per_device_train_batch_size=4, learning_rate=1e-3, max_steps=6, save_steps=2,
        logging_steps=1, report_to="none", use_cpu=True, disable_tqdm=True, seed=0, max_counterfactuals=1,
        max_edits=1, dataloader_num_workers=args.workers, scenario_pairing="cross",
    )
    callbacks = [KillAfterStep(args.kill_after_step)] if args.kill_after_step else None
    trainer = CounterfactualTrainer(model=model, args=config, train_dataset=make_rows(16, num_cf=2, num_edits=2),
                                    processing_class=processor, callbacks=callbacks)
    if args.kill_in_save is not None:
        original = trainer._save_optimizer_and_scheduler

        def save_then_die(output_dir):
            if trainer.state.global_step == args.kill_in_save:
                os.kill(os.getpid(), signal.SIGKILL)
            original(output_dir)

        trainer._save_optimizer_and_scheduler = save_then_die
    trainer.train(resume_from_checkpoint=args.resume)
    digest = {name: hashlib.sha256(p.detach().numpy().tobytes()).hexdigest() for name, p in model.named_parameters()}
    losses = {log["step"]: log["loss"] for log in trainer.state.log_history if "loss" in log}
    with open(os.path.join(args.out, "digest.json"), "w") as f:
        json.dump({"params": digest, "losses": losses}, f)


if __name__ == "__main__":
    main()
