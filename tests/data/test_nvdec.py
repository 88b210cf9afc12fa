"""NVDEC decoding (data.decode_backend=nvdec) against PyAV: the same frames, nearly the same
colours. Needs a CUDA GPU and PyNvVideoCodec (the `nvdec` extra); skipped elsewhere."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cost.data.nvdec import nvdec_unavailable
from tests.helpers.data import encode, pattern_frames, pyav_reference

pytestmark = pytest.mark.skipif(nvdec_unavailable() is not None, reason=f"NVDEC: {nvdec_unavailable()}")


@pytest.mark.parametrize("keyint", [250, 16, 1])
def test_nvdec_returns_the_frames_pyav_returns(tmp_path, keyint):
    from cost.data.nvdec import NvdecVideo

    path = encode(
        tmp_path / f"k{keyint}.mp4", pattern_frames(90, width=128, height=96), options={"g": str(keyint)}, b_frames=2
    )
    ref = torch.from_numpy(pyav_reference(path)).float()
    indices = [0, 7, 15, 16, 40, 41, 89, 3, 40, 120]  # unsorted, repeated, past the end
    with NvdecVideo(path) as video:
        assert video.num_frames == ref.shape[0]
        got = video.read(indices)
    assert got.dtype == torch.uint8 and got.is_cuda and got.shape == (len(indices), 96, 128, 3)
    got = got.cpu().float()
    for k, i in enumerate(indices):
        want = min(i, ref.shape[0] - 1)
        err = (got[k][None] - ref).abs().mean(dim=(1, 2, 3))
        assert int(err.argmin()) == want, (i, err[want].item(), err.min().item())
    diff = (got - ref[np.minimum(indices, ref.shape[0] - 1)]).abs()
    print(f"NVDEC vs PyAV colour difference, keyint {keyint}: mean {diff.mean():.2f}, max {diff.max():.0f} levels")
    assert diff.mean() < 3
