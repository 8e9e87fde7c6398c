"""Gathering embeddings across data-parallel processes, kept apart from the loss math.

The alignment loss is contrastive: each rank's images must also be contrasted with the other ranks' texts.
``gather_with_grad`` concatenates a tensor from every rank in rank order and lets gradients flow back to the
rank that produced each slice (the backward of ``all_gather`` sums the slices' gradients across ranks).

Why the gradients come out right: every rank computes the same loss L over the global batch; rank r receives
W * dL/dx_r for its own slice x_r (W ranks each contribute dL/dx_r), and DDP then averages gradients over
the W ranks, which gives exactly the single-process gradient of L.
"""

from __future__ import annotations

import torch
import torch.distributed as dist


def world_size() -> int:
    """Number of data-parallel processes (1 when torch.distributed is not initialised)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


class _AllGather(torch.autograd.Function):
    """(n, ...) per rank -> (W, n, ...) stacked in rank order; backward sums the gradients over ranks."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:
        ctx.rank = dist.get_rank()
        pieces = [torch.empty_like(tensor) for _ in range(world_size())]
        dist.all_gather(pieces, tensor.contiguous())
        return torch.stack(pieces)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad[ctx.rank]


def gather_with_grad(tensor: torch.Tensor) -> torch.Tensor:
    """(n, ...) on each rank -> (sum of n over ranks, ...) in rank order, differentiable.

    Ranks may hold different n (the last batch of an epoch); the tensor is padded for the collective and the
    padding dropped afterwards. With a single process the input is returned unchanged.
    """
    if world_size() == 1:
        return tensor
    sizes = [torch.zeros(1, dtype=torch.long, device=tensor.device) for _ in range(world_size())]
    dist.all_gather(sizes, torch.tensor([tensor.shape[0]], device=tensor.device))
    sizes = [int(s.item()) for s in sizes]
    longest = max(sizes)
    if tensor.shape[0] < longest:
        tensor = torch.cat([tensor, tensor.new_zeros((longest - tensor.shape[0], *tensor.shape[1:]))])
    pieces = _AllGather.apply(tensor)
    return torch.cat([piece[:n] for piece, n in zip(pieces, sizes)])


def global_mean_weight(local_count: int, device: torch.device | None = None) -> float:
    """Factor turning this rank's mean over ``local_count`` items into its share of the global mean.

    DDP averages gradients over W ranks, so a per-rank mean weighted by ``local_count * W / global_count``
    averages to the mean over all ranks' items, however unevenly they are spread (1.0 with one process).
    """
    if world_size() == 1:
        return 1.0
    total = torch.tensor([float(local_count)], device=device)
    dist.all_reduce(total)
    return local_count * world_size() / max(total.item(), 1.0)


def uses_deepspeed(training_args) -> bool:
    """Whether the run trains under DeepSpeed: ``--deepspeed CONFIG`` or an accelerate DeepSpeed config."""
    return getattr(training_args, "deepspeed_plugin", None) is not None


def setup_process_group(training_args) -> None:
    """Join the launcher's process group (torchrun, accelerate launch, deepspeed) before the model is built.

    Under ZeRO-3 ``from_pretrained`` partitions the weights while loading them, across the ranks it already sees,
    so the group must exist first. On CPU (``--use_cpu``) DeepSpeed is told to use gloo: its own default there
    is oneCCL whenever oneccl_bindings_for_pytorch is installed. Elsewhere the TrainingArguments set the group up
    as the Trainer would (NCCL for DeepSpeed on GPUs).
    Without a launcher (one process) this only picks the device.
    """
    import os

    launched = int(os.environ.get("WORLD_SIZE", "1")) > 1
    if launched and uses_deepspeed(training_args) and training_args.use_cpu:
        import deepspeed

        deepspeed.init_distributed(dist_backend="gloo")
    training_args.device  # noqa: B018 -- the property sets up accelerate's PartialState (and the group)


def shutdown() -> bool:
    """Wait for every rank, then destroy the process group; return whether there was one.

    With gloo on torch 2.13, a process that exits with its group alive (or destroys it while a peer is still
    talking) sometimes aborts with "terminate called without an active exception"; a barrier first avoids most
    of it (`cf_vlm_hf.commands.train.main` also skips the interpreter's teardown after a distributed run).
    """
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
        return True
    return False
