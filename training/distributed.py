"""torch.distributed helpers: gather a batch from every process, keeping the local gradient;
reduce gradients."""

from __future__ import annotations

import torch
import torch.distributed as dist


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main_process() -> bool:
    return rank() == 0


def gather_with_grad(tensor: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Concatenate ``tensor`` (first dim may differ per process) from every process.

    Returns ``(gathered, offset)``: rows ``offset : offset + len(tensor)`` are this process's own
    ``tensor`` object, so gradients flow into the local shard; the other shards are constants
    (each process back-propagates through its own shard, the usual in-batch negative scheme).
    Without an initialised process group this is the identity with offset 0.
    """
    if not is_distributed():
        return tensor, 0
    sizes = _all_sizes(tensor)
    largest = max(sizes)
    padded = tensor.detach()
    if len(tensor) < largest:
        pad = tensor.new_zeros((largest - len(tensor), *tensor.shape[1:]))
        padded = torch.cat([padded, pad])
    shards = [torch.empty_like(padded) for _ in sizes]
    dist.all_gather(shards, padded.contiguous())
    me = dist.get_rank()
    pieces = [tensor if i == me else shard[:size] for i, (shard, size) in
              enumerate(zip(shards, sizes))]
    return torch.cat(pieces), sum(sizes[:me])


def gather_tensor(tensor: torch.Tensor, fill: int | float = 0) -> torch.Tensor:
    """Concatenate a tensor without gradient (ids, masks) from every process.

    Trailing dimensions may differ between processes (a ``(B, P)`` key list padded to each
    process's own ``P``): every shard is padded with ``fill`` to the largest first.
    """
    if not is_distributed():
        return tensor.detach()
    shapes = _all_shapes(tensor)
    trailing = [max(shape[d] for shape in shapes) for d in range(1, tensor.dim())]
    padded = tensor.detach()
    if list(padded.shape[1:]) != trailing:
        padded = tensor.new_full((len(tensor), *trailing), fill)
        padded[tuple(slice(0, n) for n in tensor.shape)] = tensor.detach()
    return gather_with_grad(padded)[0]


def reduce_gradients(parameters: list[torch.Tensor], *, average: bool) -> None:
    """Sum every parameter's gradient over the processes, then divide by their number when
    ``average``; a no-op without a process group.

    Average when each process's loss covers its own examples only (plain data parallelism);
    sum when each process back-propagates the whole gathered batch's loss into its own shard,
    as :class:`nyx.training.losses.MatryoshkaInfoNCE` does with ``gather=True``: the shards'
    gradients are then parts of one gradient.
    """
    if not is_distributed():
        return
    for p in parameters:  # every process reduces every tensor, or the collective hangs
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        dist.all_reduce(p.grad)
        if average:
            p.grad /= world_size()


def _all_sizes(tensor: torch.Tensor) -> list[int]:
    return [shape[0] for shape in _all_shapes(tensor)]


def _all_shapes(tensor: torch.Tensor) -> list[tuple[int, ...]]:
    shape = torch.tensor(list(tensor.shape), device=tensor.device, dtype=torch.long)
    shapes = [torch.zeros_like(shape) for _ in range(dist.get_world_size())]
    dist.all_gather(shapes, shape)
    return [tuple(int(n) for n in s.tolist()) for s in shapes]


def init_from_environment() -> bool:
    """Join the process group ``torchrun`` describes (``WORLD_SIZE`` > 1); a no-op otherwise.

    Uses NCCL with one GPU per process (``LOCAL_RANK``) when CUDA is available, else gloo.
    """
    import os

    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or is_distributed():
        return is_distributed()
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank())
        dist.init_process_group("nccl")
    else:
        dist.init_process_group("gloo")
    return True


def shutdown(wait: bool = True) -> None:
    """Wait for every process (``wait``), then leave the process group; a no-op without one.

    A process that exits while others still talk to it, or with the group still open, can abort
    in gloo's threads ("terminate called without an active exception"). After an error pass
    ``wait=False``: the other processes may never reach the barrier.
    """
    if is_distributed():
        if wait:
            dist.barrier()
        dist.destroy_process_group()


def local_rank() -> int:
    import os

    return int(os.environ.get("LOCAL_RANK", "0"))


def default_device() -> str:
    """This process's GPU under torchrun, ``cuda`` on one GPU, else ``cpu``."""
    if torch.cuda.is_available():
        return f"cuda:{local_rank()}" if is_distributed() else "cuda"
    return "cpu"
