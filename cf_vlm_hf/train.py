"""The training job behind `cf-vlm train`: load model, processor and corpus, fine-tune, save, evaluate.

Runs as is on one process, or under ``torchrun`` / ``accelerate launch`` (the Trainer sets up data parallelism):

    cf-vlm train --config recipes/shapes-world.yaml --model_name_or_path ./my-clip
    torchrun --nproc_per_node 2 -m cf_vlm_hf.cli train --config recipes/shapes-world.yaml ...
"""

from __future__ import annotations

import logging

from .train_args import DataArguments, ModelArguments, parse_train_args

logger = logging.getLogger(__name__)


def load_model_and_processor(model_args: ModelArguments):
    """``AutoModel`` (safetensors weights) and ``AutoProcessor`` from the checkpoint the arguments name."""
    import torch
    from transformers import AutoModel, AutoProcessor

    kwargs = dict(revision=model_args.model_revision, trust_remote_code=model_args.trust_remote_code)
    dtype = model_args.dtype if model_args.dtype == "auto" else getattr(torch, model_args.dtype)
    model_kwargs = dict(kwargs, dtype=dtype, use_safetensors=True)
    if model_args.attn_implementation is not None:
        model_kwargs["attn_implementation"] = model_args.attn_implementation
    model = AutoModel.from_pretrained(model_args.model_name_or_path, **model_kwargs)
    processor = AutoProcessor.from_pretrained(
        model_args.processor_name_or_path or model_args.model_name_or_path, **kwargs
    )
    return model, processor


def load_split(data_args: DataArguments, split: str, num_anchors: int | None = None):
    """One split of the corpus the arguments name, validated (an IterableDataset when streaming)."""
    if data_args.is_shapes_world:
        from .data.shapes_world import shapes_world_dataset

        dataset = shapes_world_dataset(
            num_anchors,
            split=split,
            seed=data_args.shapes_world_seed,
            image_size=data_args.image_size,
            num_counterfactuals=data_args.num_counterfactuals,
            num_edits=data_args.num_edits,
            num_proc=data_args.dataset_num_proc,
        )
        return dataset.to_iterable_dataset() if data_args.streaming else dataset

    from .data import load_counterfactual_dataset

    kwargs = {} if data_args.dataset_revision is None else {"revision": data_args.dataset_revision}
    return load_counterfactual_dataset(
        data_args.dataset,
        split=split,
        streaming=data_args.streaming,
        on_error=data_args.on_error,
        rejected_path=data_args.rejected_path,
        **kwargs,
    )


def load_corpus(data_args: DataArguments):
    """(train split, eval split or None)."""
    train = load_split(data_args, data_args.train_split, data_args.num_train_anchors)
    evaluation = None
    if data_args.eval_split:
        evaluation = load_split(data_args, data_args.eval_split, data_args.num_eval_anchors)
    return train, evaluation


def check_args(data_args: DataArguments, training_args) -> None:
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
    from .trainer import CounterfactualTrainer

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


def main(argv: list[str] | None = None) -> int:
    """`cf-vlm train`: ``argv`` are the arguments after the subcommand."""
    from .distributed import shutdown

    import sys

    model_args, data_args, training_args = parse_train_args(argv)
    try:
        check_args(data_args, training_args)
    except ValueError as err:
        print(f"cf-vlm train: error: {err}", file=sys.stderr)
        return 2
    run(model_args, data_args, training_args)
    shutdown()  # under torchrun: barrier, then destroy the process group (gloo can abort at exit otherwise)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
