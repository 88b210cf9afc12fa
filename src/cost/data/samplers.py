"""The samplers of the data module's loaders, single-process and distributed.

Distributed loading is decided here, not by Lightning: when torch.distributed is
initialised with world size > 1, train uses a shuffling `DistributedSampler`, val a
padded one (duplicates are fine during training), and test an `ExactShardSampler`
(disjoint shards, union = every video exactly once). All three are `DistributedSampler`
instances, which Lightning leaves in place whatever `use_distributed_sampler` says.
"""

from __future__ import annotations

from collections.abc import Sized
from typing import cast

import torch
from torch.utils.data import DistributedSampler, RandomSampler, SequentialSampler


class ExactShardSampler(DistributedSampler):
    """Rank r gets rows r, r + W, r + 2W, ...: no padding, each row on exactly one rank."""

    def __init__(self, dataset, num_replicas: int = 1, rank: int = 0):
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=False, drop_last=False)

    def __iter__(self):
        return iter(range(self.rank, len(cast(Sized, self.dataset)), self.num_replicas))

    def __len__(self) -> int:
        return len(range(self.rank, len(cast(Sized, self.dataset)), self.num_replicas))


def world() -> tuple[int, int]:
    """(world size, rank) of torch.distributed, (1, 0) without it."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_world_size(), torch.distributed.get_rank()
    return 1, 0


def train_sampler(ds, seed: int):
    """Shuffled: distributed with `seed`, else from torch's RNG (follows seed_everything)."""
    size, rank = world()
    if ds is not None and size > 1:
        return DistributedSampler(ds, num_replicas=size, rank=rank, shuffle=True, seed=seed)
    g = torch.Generator()
    g.manual_seed(int(torch.randint(0, 2**62, ()).item()))  # follows seed_everything
    return RandomSampler(ds, generator=g) if ds is not None else None


def val_sampler(ds):
    size, rank = world()
    if ds is None:
        return None
    return DistributedSampler(ds, num_replicas=size, rank=rank, shuffle=False) if size > 1 else SequentialSampler(ds)


def shard_sampler(ds):
    """Every row on exactly one rank (`ExactShardSampler`)."""
    size, rank = world()
    return ExactShardSampler(ds, size, rank) if ds is not None else None
