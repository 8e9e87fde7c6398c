"""Loading a checkpoint of either family, with its processor: the one loader of `cf-vlm train` and `cf-vlm eval`.

* Image-text-to-text checkpoints (LLaVA, Qwen2-VL, ...) load with ``AutoModelForImageTextToText`` (their language
  model head included); everything else with ``AutoModel`` (dual encoders).
* A LoRA adapter folder (``adapter_config.json``, what ``save_model()`` writes with ``peft_config``) loads its base
  model (the adapter's ``base_model_name_or_path``, or ``base_model``) and the adapter on top, trainable or merged.
* Under DeepSpeed ZeRO-3, models with 0-dim parameters (CLIP's ``logit_scale``) load whole (`cf_vlm_hf.parallel.zero`).

Weights load as safetensors only; remote code runs only with ``trust_remote_code=True``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os

logger = logging.getLogger(__name__)

DTYPES = ("auto", "float32", "bfloat16", "float16")
ADAPTER_CONFIG = "adapter_config.json"


def check_reference(name_or_path: str, what: str = "model") -> None:
    """FileNotFoundError for a local-looking path that does not exist (before it is taken for a Hub id).

    Local-looking: absolute, starting with ``.`` or ``~``, or with more than one ``/`` (a Hub id is ``name`` or
    ``namespace/name``).
    """
    if not name_or_path:
        raise ValueError(f"no {what} given")
    local = os.path.isabs(name_or_path) or name_or_path.startswith((".", "~")) or name_or_path.count("/") > 1
    if local and not os.path.exists(os.path.expanduser(name_or_path)):
        raise FileNotFoundError(
            f"{what} {name_or_path!r} is neither a local folder (it does not exist) nor a Hub id ('name' or "
            "'namespace/name')"
        )


def is_adapter_folder(path: str) -> bool:
    """Whether ``path`` is a local folder holding a PEFT adapter (and no full model of its own)."""
    return os.path.isfile(os.path.join(path, ADAPTER_CONFIG)) and not os.path.isfile(os.path.join(path, "config.json"))


def adapter_base_model(path: str) -> str | None:
    """The ``base_model_name_or_path`` an adapter folder records (None when it records none)."""
    with open(os.path.join(path, ADAPTER_CONFIG), encoding="utf-8") as f:
        return json.load(f).get("base_model_name_or_path") or None


def auto_model_class(model_name_or_path: str, revision: str | None = None, trust_remote_code: bool = False):
    """``AutoModelForImageTextToText`` for checkpoints of image-text-to-text models (LLaVA, Qwen2-VL, ...), so
    they load with their language-model head; ``AutoModel`` for everything else (dual encoders)."""
    from transformers import AutoConfig, AutoModel, AutoModelForImageTextToText
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

    config = AutoConfig.from_pretrained(model_name_or_path, revision=revision, trust_remote_code=trust_remote_code)
    if config.model_type in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES:
        return AutoModelForImageTextToText
    return AutoModel


def _whole_model_load_if_needed(auto_class, model_name_or_path: str, kwargs: dict):
    """Under ZeRO-3, a context that loads models with 0-dim parameters whole; else a no-op."""
    from transformers import AutoConfig
    from transformers.integrations.deepspeed import is_deepspeed_zero3_enabled

    from ..parallel.zero import has_scalar_parameters, zero3_init_disabled

    if not is_deepspeed_zero3_enabled():
        return contextlib.nullcontext()
    config = AutoConfig.from_pretrained(model_name_or_path, **kwargs)
    if has_scalar_parameters(auto_class, config, trust_remote_code=kwargs.get("trust_remote_code", False)):
        logger.info("%s has 0-dim parameters: loaded whole, DeepSpeed ZeRO-3 shards it", type(config).__name__)
        return zero3_init_disabled()
    return contextlib.nullcontext()


def load_model_and_processor(
    model_name_or_path: str,
    *,
    processor_name_or_path: str | None = None,
    revision: str | None = "main",
    dtype: str = "float32",
    trust_remote_code: bool = False,
    attn_implementation: str | None = None,
    base_model: str | None = None,
    adapter: str = "trainable",
):
    """(model, processor) of a checkpoint: a full model folder or Hub id, or a LoRA adapter folder.

    Args:
        model_name_or_path: Hub id or local folder.
        processor_name_or_path: where the processor is (default: the checkpoint; for an adapter folder without
            processor files, its base model).
        revision: branch, tag or commit on the Hub.
        dtype: one of :data:`DTYPES` ("auto": the checkpoint's own).
        trust_remote_code: let the checkpoint's own modelling code run.
        attn_implementation: passed to ``from_pretrained`` ("eager", "sdpa", ...).
        base_model: the base of an adapter folder, overriding the one the adapter records.
        adapter: for an adapter folder, ``"trainable"`` (a `peft.PeftModel` whose adapter trains), ``"frozen"``
            (a PeftModel for inference) or ``"merged"`` (the adapter merged into the base: a plain model).
    """
    import torch
    from transformers import AutoProcessor

    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}, got {dtype!r}")
    if adapter not in ("trainable", "frozen", "merged"):
        raise ValueError(f"adapter must be 'trainable', 'frozen' or 'merged', got {adapter!r}")
    check_reference(model_name_or_path)
    adapter_folder = model_name_or_path if is_adapter_folder(model_name_or_path) else None
    weights_from = model_name_or_path
    if adapter_folder is not None:
        weights_from = base_model or adapter_base_model(adapter_folder)
        if not weights_from:
            raise ValueError(
                f"{adapter_folder} holds a LoRA adapter that names no base model: pass its base model (base_model=, "
                "or --base_model on the command line)"
            )
    kwargs = dict(revision=revision, trust_remote_code=trust_remote_code)
    base_kwargs = dict(kwargs, revision=None) if adapter_folder is not None else kwargs
    model_kwargs = dict(base_kwargs, dtype=dtype if dtype == "auto" else getattr(torch, dtype), use_safetensors=True)
    if attn_implementation is not None:
        model_kwargs["attn_implementation"] = attn_implementation
    auto_class = auto_model_class(weights_from, base_kwargs["revision"], trust_remote_code)
    with _whole_model_load_if_needed(auto_class, weights_from, base_kwargs):
        model = auto_class.from_pretrained(weights_from, **model_kwargs)
    if adapter_folder is not None:
        model = _with_adapter(model, adapter_folder, adapter)
    processor_from = processor_name_or_path or model_name_or_path
    if adapter_folder is not None and processor_name_or_path is None and not _has_processor(adapter_folder):
        processor_from = weights_from
    processor = AutoProcessor.from_pretrained(processor_from, **(kwargs if processor_from == model_name_or_path
                                                                 else base_kwargs))
    return model, processor


def _with_adapter(model, folder: str, mode: str):
    try:
        from peft import PeftModel
    except ImportError as err:
        raise ImportError(f"{folder} holds a LoRA adapter: loading it needs `pip install peft`") from err
    model = PeftModel.from_pretrained(model, folder, is_trainable=mode == "trainable")
    return model.merge_and_unload() if mode == "merged" else model


def _has_processor(folder: str) -> bool:
    names = ("processor_config.json", "preprocessor_config.json", "tokenizer_config.json")
    return any(os.path.isfile(os.path.join(folder, name)) for name in names)


def wrap_with_peft(model, peft_config, args):
    """``peft.get_peft_model(model, peft_config)``, prepared for gradient checkpointing as TRL prepares it.

    ``args`` is the run's `TrainingArguments` (its gradient-checkpointing settings are read).
    """
    try:
        from peft import PeftConfig, PeftModel, get_peft_model
    except ImportError as err:
        raise ImportError("peft_config needs the `peft` package: pip install 'cf-vlm-hf[peft]'") from err
    if not isinstance(peft_config, PeftConfig):
        raise TypeError(
            f"peft_config must be a peft.PeftConfig (e.g. peft.LoraConfig), got {type(peft_config).__name__}"
        )
    if isinstance(model, PeftModel):
        raise ValueError(
            "the model is already a PeftModel and a peft_config was passed too: pass the PeftModel without "
            "peft_config, or merge it first (model.merge_and_unload()) to train a new adapter"
        )
    if args.gradient_checkpointing:  # mirrors args.activation_checkpointing (transformers >= 5.2x)
        kwargs = getattr(args, "activation_checkpointing_kwargs", None) or args.gradient_checkpointing_kwargs
        kwargs = dict(kwargs or {})
        if hasattr(model, "activation_checkpointing_enable"):
            every_n_layers, offload = kwargs.pop("every_n_layers", 1), kwargs.pop("offload", False)
            model.activation_checkpointing_enable(
                activation_checkpointing_kwargs=kwargs or None, every_n_layers=every_n_layers, offload=offload
            )
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs or None)
        # With frozen embeddings, reentrant checkpointed blocks would see inputs without grad and drop the adapter's
        # gradient: make the input embeddings require grad, as TRL does.
        model.enable_input_require_grads()
    return get_peft_model(model, peft_config)
