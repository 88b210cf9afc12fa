"""The loaders' samplers: the exact test shards (every video on exactly one rank)."""

from __future__ import annotations

import pytest
from torch.utils.data import DistributedSampler

from cost.data.samplers import ExactShardSampler, shard_sampler, train_sampler, val_sampler


@pytest.mark.parametrize("n", [1, 7, 12, 13])
@pytest.mark.parametrize("world", [1, 2, 3, 4])
def test_exact_shard_sampler_partitions(n, world):
    shards = [list(ExactShardSampler(range(n), world, r)) for r in range(world)]
    assert all(isinstance(ExactShardSampler(range(n), world, r), DistributedSampler) for r in range(world))
    flat = [i for s in shards for i in s]
    assert sorted(flat) == list(range(n)) and len(flat) == n  # disjoint, complete, no padding
    assert [len(ExactShardSampler(range(n), world, r)) for r in range(world)] == [len(s) for s in shards]


def test_single_process_samplers_take_every_row_once():
    """Without torch.distributed: train shuffles, val keeps the order, test is one whole shard."""
    assert sorted(train_sampler(range(9), seed=0)) == list(range(9))
    assert list(val_sampler(range(9))) == list(range(9))
    assert list(shard_sampler(range(9))) == list(range(9))
    assert train_sampler(None, 0) is val_sampler(None) is shard_sampler(None) is None
