"""Data-parallel training under ``torchrun``: process group set-up and the few collectives the trainer uses.

``torchrun --nproc-per-node N -m rnnkit lm train …`` sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``;
:func:`init` then joins the process group (gloo on the CPU, NCCL on CUDA). With one process every function
here is a no-op, so the trainer calls them unconditionally.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as tdist


def init(device_type: str = "cpu") -> None:
    """Join the process group when launched by ``torchrun`` with more than one process."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not tdist.is_initialized():
        tdist.init_process_group("nccl" if device_type == "cuda" else "gloo")


def world_size() -> int:
    return tdist.get_world_size() if tdist.is_initialized() else 1


def rank() -> int:
    return tdist.get_rank() if tdist.is_initialized() else 0


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def is_main() -> bool:
    return rank() == 0


def gather_rows(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Concatenate every rank's ``t`` along ``dim`` (the batch rows), in rank order."""
    if world_size() == 1:
        return t
    parts = [torch.empty_like(t) for _ in range(world_size())]
    tdist.all_gather(parts, t.contiguous())
    return torch.cat(parts, dim=dim)


def local_rows(t: torch.Tensor, dim: int) -> torch.Tensor:
    """This rank's share of a tensor gathered by :func:`gather_rows`."""
    if world_size() == 1:
        return t
    return t.chunk(world_size(), dim=dim)[rank()]


def mean_and_any(value: float, flag: bool) -> tuple[float, bool]:
    """The mean of ``value`` over the ranks, and whether ``flag`` is set on any rank (one all-reduce)."""
    if world_size() == 1:
        return value, flag
    t = torch.tensor([value, float(flag)], dtype=torch.float64)
    tdist.all_reduce(t)
    return float(t[0]) / world_size(), bool(t[1] > 0)


def broadcast_value(value: float) -> float:
    """Rank 0's ``value`` on every rank (so that decisions such as stopping agree everywhere)."""
    if world_size() == 1:
        return value
    t = torch.tensor([value], dtype=torch.float64)
    tdist.broadcast(t, src=0)
    return float(t[0])


def gather_objects(obj) -> list:
    """Every rank's JSON-able ``obj``, in rank order (on every rank)."""
    if world_size() == 1:
        return [obj]
    out = [None] * world_size()
    tdist.all_gather_object(out, obj)
    return out


def shutdown() -> None:
    if tdist.is_initialized():
        tdist.destroy_process_group()


def broadcast_object(obj):
    """Rank 0's JSON-able ``obj`` on every rank."""
    if world_size() == 1:
        return obj
    box = [obj]
    tdist.broadcast_object_list(box, src=0)
    return box[0]
