"""cf-vlm-hf: CF-VLM counterfactual fine-tuning for Hugging Face vision-language models.

The public names load lazily, so ``import cf_vlm_hf.data`` (the corpus tools) does not import the trainer.
"""

from importlib import import_module

__version__ = "0.1.0"

_EXPORTS = {
    "CounterfactualConfig": "cf_vlm_hf.config",
    "CounterfactualTrainer": "cf_vlm_hf.trainer",
    "CounterfactualCollator": "cf_vlm_hf.models.dual_encoder",
    "GenerativeCollator": "cf_vlm_hf.models.generative",
    "Objective": "cf_vlm_hf.objective",
    "load_counterfactual_dataset": "cf_vlm_hf.data",
    "save_counterfactual_dataset": "cf_vlm_hf.data",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'cf_vlm_hf' has no attribute {name!r}")
