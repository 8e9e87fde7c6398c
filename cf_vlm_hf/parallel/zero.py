"""DeepSpeed ZeRO compatibility: scalar parameters and checkpoints that stay plain Hugging Face folders.

DeepSpeed 0.19 cannot handle 0-dim parameters (it views every parameter as bytes to broadcast or flatten it:
"self.dim() cannot be 0 to view Float as Byte"). CLIP's and VisionTextDualEncoder's ``logit_scale`` are 0-dim.
`promote_scalar_parameters` turns each into a shape-(1,) parameter holding the same value before DeepSpeed sees
the model; the model's forward broadcasts it exactly as before. Hooks keep the model's own ``state_dict`` /
``load_state_dict`` at the original shape (), and `restore_scalar_shapes` does the same for a state dict built
elsewhere (ZeRO-3 consolidates its weights without calling ``state_dict``), so a checkpoint loads with plain
``CLIPModel.from_pretrained``.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager

import torch

logger = logging.getLogger(__name__)

# Set on each module whose parameters were promoted: the names (local to the module) of those parameters.
PROMOTED_ATTR = "_cf_vlm_promoted_scalars"


def _squeeze_hook(module, state_dict, prefix, local_metadata):
    """state_dict post-hook: promoted (1,) parameters are saved at their original shape ()."""
    for name in getattr(module, PROMOTED_ATTR, ()):
        key = prefix + name
        if key in state_dict and state_dict[key].numel() == 1:
            state_dict[key] = state_dict[key].reshape(())
    return state_dict


def _unsqueeze_hook(module, state_dict, prefix, *args):
    """load_state_dict pre-hook: a checkpoint's shape-() value loads into the promoted (1,) parameter."""
    for name in getattr(module, PROMOTED_ATTR, ()):
        key = prefix + name
        if key in state_dict and state_dict[key].dim() == 0:
            state_dict[key] = state_dict[key].reshape(1)


def promote_scalar_parameters(model: torch.nn.Module) -> list[str]:
    """Replace every 0-dim parameter of ``model`` by a shape-(1,) parameter with the same value; return their names.

    Idempotent. ``requires_grad`` is kept. Call it before DeepSpeed wraps the model (`CounterfactualTrainer` does
    when DeepSpeed is enabled). A model with 0-dim parameters cannot be built under ``deepspeed.zero.Init`` at
    all: load it inside `zero3_init_disabled` (``cf-vlm train`` does), DeepSpeed partitions it later.
    """
    promoted = []
    for module_name, module in model.named_modules():
        names = [name for name, param in module.named_parameters(recurse=False) if param.dim() == 0]
        if not names:
            continue
        for name in names:
            old = module._parameters[name]
            module._parameters[name] = torch.nn.Parameter(old.detach().clone().reshape(1), requires_grad=old.requires_grad)
            promoted.append(f"{module_name}.{name}" if module_name else name)
        if not hasattr(module, PROMOTED_ATTR):
            setattr(module, PROMOTED_ATTR, set())
            module._register_state_dict_hook(_squeeze_hook)
            module._register_load_state_dict_pre_hook(_unsqueeze_hook, with_module=True)
        getattr(module, PROMOTED_ATTR).update(names)
    if promoted:
        logger.info("DeepSpeed: 0-dim parameters %s trained as shape (1,), saved as shape ()", promoted)
    return promoted


def promoted_scalar_names(model: torch.nn.Module) -> list[str]:
    """Full names of the parameters `promote_scalar_parameters` promoted in ``model`` (empty when none)."""
    return [
        f"{module_name}.{name}" if module_name else name
        for module_name, module in model.named_modules()
        for name in sorted(getattr(module, PROMOTED_ATTR, ()))
    ]


def restore_scalar_shapes(state_dict: dict | None, model: torch.nn.Module) -> dict | None:
    """``state_dict`` with each promoted parameter of ``model`` back at shape () (None stays None)."""
    if not state_dict:
        return state_dict
    for key in promoted_scalar_names(model):
        if key in state_dict and state_dict[key].numel() == 1:
            state_dict[key] = state_dict[key].reshape(())
    return state_dict


def zero_stage(accelerator) -> int:
    """The ZeRO stage DeepSpeed runs with (0 when DeepSpeed is not enabled)."""
    plugin = getattr(getattr(accelerator, "state", None), "deepspeed_plugin", None)
    return int(plugin.zero_stage or 0) if plugin is not None else 0


def check_zero3_gathers_weights(accelerator, config_source: str | None = None) -> None:
    """Raise ValueError unless a ZeRO-3 config gathers the full weights when the model is saved.

    ``config_source`` names the DeepSpeed config file in the message (``--deepspeed`` or accelerate's config).

    Without ``stage3_gather_16bit_weights_on_model_save`` Trainer writes an empty model file plus DeepSpeed's own
    shards, which ``from_pretrained`` cannot load.
    """
    if zero_stage(accelerator) != 3:
        return
    plugin = accelerator.state.deepspeed_plugin
    zero = plugin.deepspeed_config.get("zero_optimization", {})
    if zero.get("stage3_gather_16bit_weights_on_model_save") is not True:
        where = f" in {config_source}" if config_source else ""
        raise ValueError(
            f"ZeRO-3 needs zero_optimization.stage3_gather_16bit_weights_on_model_save: true{where}, so that "
            "checkpoints hold the full weights and load with from_pretrained (see recipes/deepspeed/zero3.json)"
        )


@contextmanager
def zero3_init_disabled():
    """Within the block, ``from_pretrained`` builds the model whole instead of under ``deepspeed.zero.Init``.

    ``deepspeed.zero.Init`` partitions each parameter as the model is constructed and crashes on 0-dim ones, before
    `promote_scalar_parameters` can run. Models that have them (CLIP and similar dual encoders) are small enough
    to load whole on every rank; DeepSpeed partitions them when the Trainer wraps the model.
    """
    from transformers.integrations import deepspeed as hf_deepspeed
    from transformers.integrations.deepspeed import deepspeed_config, set_hf_deepspeed_config, unset_hf_deepspeed_config

    reference = hf_deepspeed._hf_deepspeed_config_weak_ref
    active = reference() if reference is not None and deepspeed_config() is not None else None
    unset_hf_deepspeed_config()
    try:
        yield
    finally:
        if active is not None:
            set_hf_deepspeed_config(active)


def has_scalar_parameters(auto_class, config, **kwargs) -> bool:
    """Whether the model ``auto_class.from_config(config, **kwargs)`` builds has 0-dim parameters.

    The model is built on the meta device: no memory, no weights read.
    """
    with zero3_init_disabled(), torch.device("meta"):
        skeleton = auto_class.from_config(config, **kwargs)
    return any(param.dim() == 0 for param in skeleton.parameters())
