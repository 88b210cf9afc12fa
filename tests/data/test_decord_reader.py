"""decord by name: exact where `VideoInfo.decord_exact` says so, and the check sees its errors elsewhere."""

from __future__ import annotations

import numpy as np
import pytest

from cost.data import probe, read_frames
from cost.data.decode import decord_available
from tests.helpers.data import ALL_GENERATED, assert_exact, index_sets


@pytest.mark.skipif(not decord_available(), reason="decord is not installed here")
def test_decord_by_name_is_exact_where_it_says_so(video_dir, references):
    """backend=decord stays an option: its frames equal the reference wherever `decord_exact`."""
    exact = [name for name in ALL_GENERATED if probe(video_dir / name).decord_exact]
    assert len(exact) == 6, exact  # H.264 (B-frames at NTSC rate, long GOP, VFR, a cut) in MP4 and MKV, VP9 in WebM
    for name in exact:
        ref = references[name]
        for indices in index_sets(len(ref)):
            assert_exact(video_dir / name, ref, indices, backend="decord")


@pytest.mark.parametrize("name", ["h264_bframes.avi", "mpeg4_bframes.mp4", "hevc_bframes.mp4"])
def test_exactness_check_catches_raw_decord(video_dir, references, name):
    """The comparison above is sensitive: raw decord (0.6.0 and decord2 3.4.0) returns wrong frames on these files."""
    ref = references[name]
    n = len(ref)
    wrong = 0
    for indices in index_sets(n):
        out = read_frames(video_dir / name, indices, backend="decord").numpy()
        wrong += int((out != ref[np.minimum(indices, n - 1)]).any())
    assert wrong > 0, "decord is exact here now; DECORD_SAFE_* in cost/data/decode.py could be widened"


@pytest.mark.skipif(not decord_available(), reason="decord is not installed here")
def test_a_read_decord_fails_returns_none_and_video_reads_it_with_pyav(tmp_path):
    """A rotated MP4 makes decord's get_batch fail (0.6.0 on some frame sizes, decord2 on this one):
    the reader says None rather than raising, so `Video` can hand the read to PyAV."""
    from cost.data import Video
    from cost.data.decord_reader import DecordReader
    from tests.helpers.data import encode_turned, pattern_frames, pyav_reference

    phone = [0, 1 << 16, 0, -(1 << 16), 0, 0, 0, 0, 1 << 30]  # a phone held upright: turn 90 clockwise
    path = encode_turned(tmp_path / "turned.mp4", pattern_frames(20, width=64, height=48, seed=3), matrix=phone)
    reader = DecordReader(str(path), probe(path))
    assert reader.num_frames == 20
    assert reader.frames(np.array([0, 7])) is None
    with Video(path, backend="decord") as video:  # turned: PyAV reads it, upright
        assert video.backend == "pyav"
        want = np.rot90(pyav_reference(path), -1, axes=(1, 2))[[0, 7]]
        assert (video.read([0, 7]).numpy() == want).all()
