"""Data-parallel processes launched by `torchrun`: the process group, ranks and collectives.

`torchrun --nproc-per-node N -m advland ...` starts N processes with RANK, WORLD_SIZE and
LOCAL_RANK in their environment. `init()` joins them into one process group (backend
`nccl` for CUDA tensors, `gloo` for CPU tensors; each process drives `cuda:LOCAL_RANK`).
Without torchrun's variables nothing here touches `torch.distributed`: every helper answers
as a single process does (rank 0 of 1, collectives are identities), so one code path serves
both and a single process computes exactly what it did without this module.

Sharding is contiguous and balanced: rank r of W takes rows [r·n//W + min(r, n%W) ...),
i.e. the first n % W ranks get one row more, and concatenating the shards in rank order
gives the rows back in their original order (`gather_cat` relies on that).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import torch

_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK")
T = TypeVar("T")
R = TypeVar("R")


def launched() -> bool:
    """True in a process started by torchrun (its RANK, WORLD_SIZE, LOCAL_RANK are set)."""
    return all(k in os.environ for k in _ENV)


def restarted() -> bool:
    """True in a process that torchrun started again after a failure of its group
    (`--max-restarts`): TORCHELASTIC_RESTART_COUNT > 0."""
    return launched() and int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") or 0) > 0


def active() -> bool:
    """True when a process group of more than one process is up."""
    if not launched():
        return False
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return int(os.environ["RANK"]) if active() else 0


def world_size() -> int:
    return int(os.environ["WORLD_SIZE"]) if active() else 1


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0")) if launched() else 0


def is_main() -> bool:
    """True on the one process that writes files and prints (rank 0, or a single process)."""
    return rank() == 0


def init() -> bool:
    """Join torchrun's process group (no-op without torchrun, or when already joined);
    returns True when this process is part of a group. With CUDA the process uses
    `cuda:LOCAL_RANK` (`torch.cuda.set_device`) and the group routes CUDA tensors over
    nccl and CPU tensors over gloo; without CUDA everything goes over gloo."""
    if not launched():
        return False
    import torch.distributed as dist

    if dist.is_initialized():
        return True
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank())
        backend = "cpu:gloo,cuda:nccl"
    else:
        backend = "gloo"
    world = int(os.environ["WORLD_SIZE"])
    dist.init_process_group(
        backend=backend, store=_attempt_store(), rank=int(os.environ["RANK"]), world_size=world
    )
    return True


def _attempt_store() -> Any:
    """torchrun's rendezvous store, under a key prefix of its own per restart attempt.

    torchrun (torch 2.x, c10d rendezvous) hands a restarted group the same agent store
    as the failed one, and the default `env://` initialisation reads the keys of the
    failed attempt: the peers' old, dead addresses ("Gloo connectFullMesh failed ...
    Connection refused"). Prefixing the keys with TORCHELASTIC_RESTART_COUNT keeps each
    attempt's group apart."""
    import torch.distributed as dist

    agent = os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True"
    store = dist.TCPStore(
        os.environ["MASTER_ADDR"],
        int(os.environ["MASTER_PORT"]),
        int(os.environ["WORLD_SIZE"]),
        is_master=not agent and int(os.environ["RANK"]) == 0,
        multi_tenant=True,
    )
    attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
    return dist.PrefixStore(f"advland/attempt_{attempt}", store)


def destroy() -> None:
    """Leave the process group (no-op when none was joined)."""
    if not launched():
        return
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()


def device(requested: torch.device) -> torch.device:
    """The device this process uses for `requested`: `cuda:LOCAL_RANK` for any CUDA device
    under torchrun (one GPU per process), otherwise `requested` unchanged."""
    if launched() and requested.type == "cuda":
        return torch.device("cuda", local_rank())
    return requested


@dataclass(frozen=True)
class Shard:
    """Rows [start, stop) of `total` rows: one rank's contiguous share."""

    start: int
    stop: int
    total: int

    @property
    def size(self) -> int:
        return self.stop - self.start

    @property
    def whole(self) -> bool:
        return self.start == 0 and self.stop == self.total

    def take(self, t: torch.Tensor) -> torch.Tensor:
        return t if self.whole else t[self.start : self.stop]


def shard(total: int, r: int | None = None, world: int | None = None) -> Shard:
    """Rank `r`'s contiguous, balanced share of `total` rows (default: this process's)."""
    r = rank() if r is None else r
    world = world_size() if world is None else world
    base, extra = divmod(total, world)
    start = r * base + min(r, extra)
    return Shard(start, start + base + (1 if r < extra else 0), total)


def all_reduce_sum(tensors: Sequence[torch.Tensor]) -> None:
    """Sum each tensor over all ranks, in place (identity in a single process).

    The tensors are flattened into one buffer so a call costs one collective."""
    if not active() or not tensors:
        return
    import torch.distributed as dist

    flat = torch.cat([t.reshape(-1) for t in tensors])
    dist.all_reduce(flat)
    offset = 0
    for t in tensors:
        t.copy_(flat[offset : offset + t.numel()].view_as(t))
        offset += t.numel()


def all_gather_object(obj: Any) -> list[Any]:
    """Every rank's `obj`, in rank order ([obj] in a single process)."""
    if not active():
        return [obj]
    import torch.distributed as dist

    out: list[Any] = [None] * world_size()
    dist.all_gather_object(out, obj)
    return out


def gather_cat(t: torch.Tensor) -> torch.Tensor:
    """Concatenate every rank's shard (sizes may differ) in rank order, on every rank.

    With contiguous shards (`shard`) this is the full tensor in its original row order."""
    if not active():
        return t
    parts = all_gather_object(t.detach().cpu())
    return torch.cat(parts).to(t.device)


def broadcast_object(obj: Any) -> Any:
    """Rank 0's `obj` on every rank (`obj` unchanged in a single process)."""
    if not active():
        return obj
    import torch.distributed as dist

    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier() -> None:
    """Wait for every rank (no-op in a single process)."""
    if active():
        import torch.distributed as dist

        dist.barrier()


def map_rounds(items: Sequence[T], fn: Callable[[T], R]) -> Iterator[tuple[T, R]]:
    """(item, fn(item)) for every item, in order, on every rank. The items are dealt out
    in rounds of W (item k of a round goes to rank k) and each round's results are
    gathered, so W ranks compute W items at a time; in a single process this is the plain
    loop. `fn` must be deterministic per item (its result may not depend on the rank)."""
    world, me = world_size(), rank()
    for start in range(0, len(items), world):
        chunk = items[start : start + world]
        if world == 1:
            yield chunk[0], fn(chunk[0])
            continue
        mine = fn(chunk[me]) if me < len(chunk) else None
        results = all_gather_object(mine)[: len(chunk)]
        yield from zip(chunk, results, strict=True)
