"""The feed benchmark's measuring functions run on real encoded video (their numbers are not
checked: timing belongs in the benchmark's printout, not in tests)."""

import pytest

from cost.bench import feed


@pytest.mark.slow
@pytest.mark.parametrize("device_transforms", [False, True])
def test_end_to_end_and_loader_measurements_run(tmp_path, device_transforms):
    roots = feed.make_videos(tmp_path, copies=16, seconds=2, keyints=(16,))
    p = dict(feed.QUICK, steps=2, warmup=1)
    assert feed.e2e_clips_per_s(roots[16], 0, device_transforms, p) > 0
    assert feed.loader_clips_per_s(roots[16], 0, device_transforms, p["batch"], 2) > 0
