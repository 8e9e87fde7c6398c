"""One CounterfactualTrainer step of a tiny CLIP on 8 fixed rows; rank 0 writes the step's logged metrics.

Run alone (one process, batch 8) or under ``torchrun --nproc_per_node 2`` (two processes, batch 4 each): the
global batch is the same 8 rows either way.

    [CF_UNEVEN=1] [CF_MODEL=llava] python one_step.py OUT.json [--gather_across_devices False]
        [--per_device_train_batch_size 4] [--max_sequences_per_forward 5]

``CF_MODEL=llava`` trains a tiny generative LLaVA instead of CLIP (several forwards per step with
``--max_sequences_per_forward``).
"""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from testing_utils import make_rows, tiny_clip  # noqa: E402
from transformers import HfArgumentParser  # noqa: E402

from cf_vlm_hf import CounterfactualConfig, CounterfactualTrainer  # noqa: E402
from cf_vlm_hf.parallel.distributed import shutdown  # noqa: E402


def main():
    out_path = sys.argv[1]
    defaults = dict(
        output_dir=os.path.join(os.path.dirname(out_path), "trainer"),
        per_device_train_batch_size=8,
        max_steps=1,
        learning_rate=0.0,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        disable_tqdm=True,
        seed=0,
    )
    parser = HfArgumentParser(CounterfactualConfig)
    parser.set_defaults(**defaults)
    (args,) = parser.parse_args_into_dataclasses(sys.argv[2:])
    if os.environ.get("CF_MODEL") == "llava":
        from testing_utils import tiny_llava

        model, processor = tiny_llava(seed=0)
    else:
        model, processor = tiny_clip(seed=0)
    rows = make_rows(8)
    if os.environ.get("CF_MODEL") == "llava":  # the ranks hold different numbers of caption tokens
        rows[0]["caption"] = "a small red circle to the left of a large blue square"
    if os.environ.get("CF_UNEVEN"):  # 5 rows keep their counterfactuals and edits: ranks cannot hold equal shares
        for row in rows[:3]:
            row.update(cf_images=[], cf_captions=[], edit_images=[], edit_types=[], edit_captions=[])
    trainer = CounterfactualTrainer(model=model, args=args, train_dataset=rows, processing_class=processor)
    trainer.train()
    if trainer.is_world_process_zero():
        step_log = next(log for log in trainer.state.log_history if "align_loss" in log)
        with open(out_path, "w") as f:
            json.dump({**step_log, "world_size": trainer.args.world_size}, f)
    shutdown()


if __name__ == "__main__":
    main()
    # torch 2.13's gloo sometimes aborts while tearing down the interpreter ("terminate called without an
    # active exception") after all work is done; the results are written, so skip the teardown.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
