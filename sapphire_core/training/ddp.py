"""Distributed training with ``torchrun`` (DistributedDataParallel; NCCL on GPU, gloo on CPU).

Contrastive losses need negatives from the whole global batch, not just the rank's share:
:func:`gather_with_grad` all-gathers the embeddings *with* gradient (``torch.distributed.nn``),
so every rank computes the loss over the same global batch. Why this equals single-process
training: each rank's loss ``L`` is identical; the all-gather's backward sums the gradient of
all ``W`` copies onto each rank's own rows (``W * dL/dx_r``), and DDP then averages parameter
gradients over the ``W`` ranks, which gives exactly ``dL/dtheta``.

Launch::

    torchrun --nproc_per_node 2 -m sapphire_core.training.ddp configs/default.yaml --corpus DIR --out RUN
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import torch
import torch.distributed as dist

from sapphire_core.device import resolve_device


@dataclass
class DistContext:
    """Where this process sits in a (possibly single-process) run."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    initialized_here: bool = False
    #: A second process group for the embedding gathers, so they never interleave with DDP's own
    #: gradient all-reduces on one communicator (gloo pairs collectives by issue order).
    gather_group: object = None

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def close(self) -> None:
        """Tear down the process group if this context created it."""
        if self.initialized_here and dist.is_initialized():
            dist.destroy_process_group()


def init_distributed(device: torch.device) -> DistContext:
    """Join the process group described by torchrun's environment (``RANK``, ``WORLD_SIZE``,
    ``MASTER_ADDR``, ``MASTER_PORT``); a single-process context when ``WORLD_SIZE`` is unset or 1."""
    if dist.is_available() and dist.is_initialized():
        return DistContext(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)),
                           gather_group=dist.new_group())
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext()
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend=backend)
    return DistContext(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)),
                       initialized_here=True, gather_group=dist.new_group(backend=backend))


def gather_with_grad(x: torch.Tensor | None, ctx: DistContext) -> torch.Tensor | None:
    """All-gather ``(b, ...)`` from every rank into ``(W*b, ...)`` in rank order, keeping the graph."""
    if x is None or not ctx.distributed:
        return x
    import warnings

    from torch.distributed.nn.functional import all_gather

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # its successor has no autograd on gloo yet
        parts = all_gather(x.contiguous(), group=ctx.gather_group or dist.group.WORLD)
    return torch.cat(parts, dim=0)


def gather_nograd(x: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """All-gather a tensor that needs no gradient (labels)."""
    if not ctx.distributed:
        return x
    parts = [torch.empty_like(x) for _ in range(ctx.world_size)]
    dist.all_gather(parts, x.contiguous(), group=ctx.gather_group)
    return torch.cat(parts, dim=0)


def any_rank(flag: bool, ctx: DistContext, device: torch.device) -> bool:
    """True on every rank when ``flag`` is true on any (e.g. one rank got SIGTERM)."""
    if not ctx.distributed:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def main(argv: list[str] | None = None) -> None:
    """``torchrun ... -m sapphire_core.training.ddp CONFIG --corpus DIR --out RUN [--set k=v] [--resume | --restart]``."""
    import argparse

    from sapphire_core.config import load_config
    from sapphire_core.training.trainer import train

    parser = argparse.ArgumentParser(prog="sapphire_core.training.ddp")
    parser.add_argument("config")
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--restart", action="store_true")
    parser.add_argument("--device", default=None)
    args = parser.parse_args(argv)
    device = args.device
    if device is None and resolve_device("auto").type == "cuda":
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
    cfg = load_config(args.config, overrides=args.overrides)
    result = train(cfg, args.corpus, args.out, device=device, resume=args.resume, restart=args.restart)
    if int(os.environ.get("RANK", "0")) == 0:
        print(result.metrics)


if __name__ == "__main__":  # pragma: no cover - exercised through torchrun
    main(sys.argv[1:])
