"""`cf-vlm train` with a probe: at the end of training every rank writes a digest of its model parameters.

Launched exactly as the CLI would be (``torchrun``, ``accelerate launch``, ``deepspeed``), with the CLI's
arguments; the only addition is a callback that writes ``$CF_VLM_PROBE_DIR/rank{R}.json`` holding, per
parameter, a SHA-256 of its full (ZeRO-3: gathered) float32 values. Equal digests across ranks mean the ranks
hold bit-identical models.

    torchrun --nproc_per_node 2 probed_train.py train --config RECIPE.yaml [--FLAG VALUE ...]
"""

import hashlib
import json
import os
import sys

import torch
from transformers import TrainerCallback

import cf_vlm_hf.trainer as trainer_module
from cf_vlm_hf.cli import main


def parameter_digests(model: torch.nn.Module) -> dict[str, str]:
    params = dict(model.named_parameters())
    gather = any(hasattr(p, "ds_id") for p in params.values())
    if gather:  # ZeRO-3: every rank takes part in the gather
        import deepspeed

        context = deepspeed.zero.GatheredParameters(list(params.values()), modifier_rank=None)
    else:
        import contextlib

        context = contextlib.nullcontext()
    with context:
        return {
            name: hashlib.sha256(p.detach().float().cpu().contiguous().numpy().tobytes()).hexdigest()
            for name, p in params.items()
        }


class ParameterDigests(TrainerCallback):
    def __init__(self, trainer):
        self.trainer = trainer

    def on_train_end(self, args, state, control, **kwargs):
        digests = parameter_digests(self.trainer.model)
        folder = os.environ["CF_VLM_PROBE_DIR"]
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, f"rank{args.process_index}.json"), "w") as f:
            json.dump({"world_size": args.world_size, "deepspeed": self.trainer.is_deepspeed_enabled,
                       "digests": digests}, f)


class ProbedTrainer(trainer_module.CounterfactualTrainer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.add_callback(ParameterDigests(self))


trainer_module.CounterfactualTrainer = ProbedTrainer  # `cf_vlm_hf.commands.train.run` imports it at call time

if __name__ == "__main__":
    sys.exit(main())
