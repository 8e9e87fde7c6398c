"""The training job behind `cf-vlm train`: load model, processor and corpus, fine-tune, save, evaluate.

Runs as is on one process, or under ``torchrun``, ``accelerate launch`` or the ``deepspeed`` launcher, with
or without a DeepSpeed ZeRO config (recipes/README.md lists the commands):

    cf-vlm train --config recipes/shapes-world.yaml --model_name_or_path ./my-clip
    torchrun --nproc_per_node 2 -m cf_vlm_hf.cli train --config recipes/shapes-world.yaml ...
    torchrun --nproc_per_node 8 -m cf_vlm_hf.cli train --config recipes/clip-vit-b32.yaml \
        --deepspeed recipes/deepspeed/zero2.json
"""

from __future__ import annotations

import logging

from .train_args import DataArguments, ModelArguments, parse_train_args, train_parser

logger = logging.getLogger(__name__)


def load_model_and_processor(model_args: ModelArguments):
    """The model and processor the arguments name (`cf_vlm_hf.models.loading.load_model_and_processor`)."""
    from ..models.loading import load_model_and_processor as load

    return load(
        model_args.model_name_or_path,
        processor_name_or_path=model_args.processor_name_or_path,
        revision=model_args.model_revision,
        dtype=model_args.dtype,
        trust_remote_code=model_args.trust_remote_code,
        attn_implementation=model_args.attn_implementation,
    )


def lora_config(model_args: ModelArguments):
    """The ``peft.LoraConfig`` the lora_* arguments describe, or None without ``use_peft``.

    `CounterfactualTrainer(peft_config=...)` wraps the model with it (only the adapters train).
    """
    if not model_args.use_peft:
        return None
    try:
        from peft import LoraConfig
    except ImportError as err:
        raise ImportError("use_peft needs PEFT: pip install 'cf-vlm-hf[peft]'") from err

    targets = model_args.lora_target_modules
    if targets == ["all-linear"]:  # PEFT's keyword, not a module name
        targets = "all-linear"
    return LoraConfig(
        r=model_args.lora_r,
        lora_alpha=model_args.lora_alpha,
        lora_dropout=model_args.lora_dropout,
        target_modules=targets,
    )


def load_split(data_args: DataArguments, split: str, num_anchors: int | None = None):
    """One split of the corpus the arguments name, validated (an IterableDataset when streaming)."""
    if data_args.is_shapes_world:
        from ..data.shapes_world import shapes_world_dataset

        dataset = shapes_world_dataset(
            num_anchors, split, data_args.shapes_world_seed, data_args.shapes_world_spec(),
            num_proc=data_args.dataset_num_proc,
        )
        return dataset.to_iterable_dataset() if data_args.streaming else dataset

    from ..data import load_counterfactual_dataset

    kwargs = {} if data_args.dataset_revision is None else {"revision": data_args.dataset_revision}
    return load_counterfactual_dataset(
        data_args.dataset,
        split=split,
        streaming=data_args.streaming,
        on_error=data_args.on_error,
        rejected_path=rejected_path_for(data_args, split),
        allow_outside_root=data_args.allow_outside_root,
        image_column=data_args.image_column,
        caption_column=data_args.caption_column,
        **kwargs,
    )


def rejected_path_for(data_args: DataArguments, split: str) -> str | None:
    """Where a split's rejected rows are listed: ``--rejected_path`` for the training split, ``NAME.SPLIT.jsonl`` for
    the others (so the evaluation split's list never overwrites the training split's)."""
    import os

    path = data_args.rejected_path
    if path is None or split == data_args.train_split:
        return path
    stem, ext = os.path.splitext(path)
    return f"{stem}.{split}{ext or '.jsonl'}"


def load_corpus(data_args: DataArguments):
    """(train split, eval split or None)."""
    train = load_split(data_args, data_args.train_split, data_args.num_train_anchors)
    evaluation = None
    if data_args.eval_split:
        evaluation = load_split(data_args, data_args.eval_split, data_args.num_eval_anchors)
    return train, evaluation


# The model `recipes/shapes-world.yaml` fine-tunes by default: the base that `cf-vlm demo` writes.
DEMO_BASE = "cf-vlm-demo/base"


def check_args(data_args: DataArguments, training_args, model_args: ModelArguments | None = None) -> None:
    if model_args is not None and model_args.model_name_or_path.rstrip("/") == DEMO_BASE:
        import os

        if not os.path.isdir(DEMO_BASE):
            raise ValueError(
                f"model_name_or_path {DEMO_BASE!r} (the shapes-world recipe's default) is the base model that `cf-vlm "
                "demo` writes, and it is not there: run `cf-vlm demo --quick` first, or pass --model_name_or_path "
                "with your own checkpoint (a local folder or a Hub id such as openai/clip-vit-base-patch32)"
            )
    if data_args.streaming and training_args.max_steps <= 0:
        raise ValueError(
            "a streamed corpus has no known length: set --max_steps (the number of optimisation steps to run)"
        )
    if data_args.is_shapes_world and data_args.train_split != "train":
        raise ValueError(f"shapes-world trains on split 'train', got train_split={data_args.train_split!r}")
    if data_args.is_shapes_world and data_args.eval_split not in (None, "test", "heldout"):
        raise ValueError(f"shapes-world eval_split must be 'test' or 'heldout', got {data_args.eval_split!r}")


def run(model_args: ModelArguments, data_args: DataArguments, training_args) -> dict:
    """Fine-tune, save the model and processor to ``output_dir``, evaluate; return the metrics."""
    from ..parallel.distributed import setup_process_group
    from ..trainer import CounterfactualTrainer

    if training_args.push_to_hub and training_args.process_index == 0:  # before any model is loaded
        from ..hub import check_hub_access

        check_hub_access(training_args.hub_token, then=f"train without --push_to_hub and push the saved folder later "
                         f"with `cf-vlm push {training_args.output_dir} --repo-id {training_args.hub_model_id or 'NAME'}`")
    setup_process_group(training_args)  # before the model: ZeRO-3 partitions it while loading
    model, processor = load_model_and_processor(model_args)
    # The main process validates (and, in skip mode, writes the rejected rows) first; the others then reuse the
    # `datasets` cache instead of racing it.
    with training_args.main_process_first(desc="loading the corpus"):
        train_dataset, eval_dataset = load_corpus(data_args)
    trainer = CounterfactualTrainer(
        model=model,
        args=training_args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        processing_class=processor,
        peft_config=lora_config(model_args),
        corpus_name=data_args.dataset,
    )
    result = trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    metrics = dict(result.metrics)
    trainer.save_model()  # model and processor, as safetensors (and pushed, with --push_to_hub)
    trainer.log_metrics("train", result.metrics)
    trainer.save_metrics("train", result.metrics)
    trainer.save_state()
    if eval_dataset is not None:
        eval_metrics = trainer.evaluate()
        trainer.log_metrics("eval", eval_metrics)
        trainer.save_metrics("eval", eval_metrics)
        metrics.update(eval_metrics)
    return metrics


def make_parser():
    """The `trl.TrlParser` of `cf-vlm train` (see `cf_vlm_hf.commands.train_args`)."""
    return train_parser()


def main(argv: list[str] | None = None) -> int:
    """`cf-vlm train`: ``argv`` are the arguments after the subcommand."""
    import os
    import sys

    from ..parallel.distributed import shutdown

    model_args, data_args, training_args = parse_train_args(argv)
    try:
        check_args(data_args, training_args, model_args)
    except ValueError as err:
        print(f"cf-vlm train: error: {err}", file=sys.stderr)
        return 2
    run(model_args, data_args, training_args)
    if shutdown():  # under a launcher: barrier, then destroy the process group
        # torch 2.13's gloo can still abort while the interpreter tears down ("terminate called without an
        # active exception"), failing the launcher after a finished run. Everything is written: leave now.
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
