"""read_frames must return exactly PyAV's sequentially decoded frames (bit-identical RGB)."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from cost.data import Video, VideoReadError, count_frames, probe, read_frames, train_indices, uniform_indices
from cost.data.decode import check_frame_size, clear_probe_cache, decord_available
from tests.helpers.data import (
    EXTRA_VIDEOS,
    SHARED_VIDEOS,
    VIDEO_SPECS,
    decodable_frames,
    encode,
    encode_grey,
    encode_turned,
    needs_shared,
    pattern_frames,
    pyav_reference,
)

ALL_GENERATED = sorted((*VIDEO_SPECS, *EXTRA_VIDEOS))


def index_sets(n: int) -> list[list[int]]:
    rng = np.random.default_rng(n)
    return [
        [0],
        [n - 1],  # the last frame alone (decord's weak spot on some files)
        [n - 1, 0, n // 2],  # unsorted, seeking back
        [5, 5, 5, 2, 2],  # repeated
        sorted(rng.choice(n, size=8, replace=False).tolist()),  # sparse
        rng.integers(0, n, size=12).tolist() + [n - 1, n - 2, 1],  # unsorted sparse + end
        list(range(n - 8, n)),  # the tail
    ]


def assert_exact(path, ref: np.ndarray, indices, backend: str = "auto") -> None:
    out = read_frames(path, indices, backend=backend)
    assert out.dtype == torch.uint8 and out.shape == (len(indices), *ref.shape[1:])
    expected = ref[np.minimum(indices, len(ref) - 1)]
    # Measured: decord and PyAV convert YUV->RGB identically, so no tolerance is needed.
    diff = np.abs(out.numpy().astype(int) - expected.astype(int)).max(axis=(1, 2, 3))
    assert (diff == 0).all(), f"{path}: frames {np.asarray(indices)[diff > 0].tolist()} differ (max {diff.max()})"


@pytest.mark.parametrize("name", ALL_GENERATED)
def test_read_frames_exact_on_generated(video_dir, references, name):
    ref = references[name]
    for indices in index_sets(len(ref)):
        assert_exact(video_dir / name, ref, indices)


@pytest.mark.skipif(not decord_available(), reason="decord is not installed here")
def test_decord_by_name_is_exact_where_it_says_so(video_dir, references):
    """backend=decord stays an option: its frames equal the reference wherever `decord_exact`."""
    exact = [name for name in ALL_GENERATED if probe(video_dir / name).decord_exact]
    assert len(exact) == 6, exact  # H.264 (B-frames at NTSC rate, long GOP, VFR, a cut) in MP4 and MKV, VP9 in WebM
    for name in exact:
        ref = references[name]
        for indices in index_sets(len(ref)):
            assert_exact(video_dir / name, ref, indices, backend="decord")


@pytest.mark.parametrize("name", ALL_GENERATED)
def test_frame_count_matches_sequential_decode(video_dir, references, name):
    assert count_frames(video_dir / name) == len(references[name])


def test_indices_past_the_end_are_clamped(video_dir, references):
    ref = references["h264_bframes_ntsc.mp4"]
    n = len(ref)
    out = read_frames(video_dir / "h264_bframes_ntsc.mp4", [n + 10, n - 1, 3])
    assert torch.equal(out[0], torch.from_numpy(ref[n - 1]))
    assert torch.equal(out[1], torch.from_numpy(ref[n - 1]))
    assert torch.equal(out[2], torch.from_numpy(ref[3]))
    with pytest.raises(ValueError):
        read_frames(video_dir / "h264_bframes_ntsc.mp4", [-1])
    with pytest.raises(ValueError):
        read_frames(video_dir / "h264_bframes_ntsc.mp4", [])


@pytest.mark.parametrize(
    "name, decord_exact",
    [
        ("h264_bframes_ntsc.mp4", True),
        ("h264_nob.mkv", True),
        ("vp9.webm", True),
        ("h264_bframes.avi", False),
        ("mpeg4.avi", False),
        ("mpeg4_bframes.mp4", False),
        ("hevc_bframes.mp4", False),
    ],
)
def test_backend_choice(video_dir, name, decord_exact, caplog):
    """auto reads with PyAV; decord only by name, with one warning where its frames are wrong."""
    from cost.data import decode

    assert Video(video_dir / name).backend == "pyav"
    assert probe(video_dir / name).decord_exact == decord_exact
    if not decord_available():
        return
    decode._warn_decord_inexact.cache_clear()
    with caplog.at_level(logging.WARNING, logger="cost.data"):
        for _ in range(2):
            assert Video(video_dir / name, backend="decord").backend == "decord"
    warned = [r.getMessage() for r in caplog.records if "wrong frames" in r.getMessage()]
    assert len(warned) == (0 if decord_exact else 1), warned
    assert all("backend=auto" in w for w in warned)


@pytest.mark.parametrize("name", ["h264_bframes.avi", "mpeg4_bframes.mp4", "hevc_bframes.mp4"])
def test_exactness_check_catches_raw_decord(video_dir, references, name):
    """The comparison above is sensitive: raw decord 0.6.0 returns wrong frames on these files."""
    ref = references[name]
    n = len(ref)
    wrong = 0
    for indices in index_sets(n):
        out = read_frames(video_dir / name, indices, backend="decord").numpy()
        wrong += int((out != ref[np.minimum(indices, n - 1)]).any())
    assert wrong > 0, "decord is exact here now; DECORD_SAFE_* in cost/data/decode.py could be widened"


@needs_shared
@pytest.mark.shared
@pytest.mark.parametrize("name", ["kinetics_arm_wrestling.mp4", "mpeg4_320x240.avi", "short_32_frames.mp4"])
def test_read_frames_exact_on_shared_clips(name):
    path = SHARED_VIDEOS / name
    ref = pyav_reference(path)
    assert count_frames(path) == len(ref)
    for indices in index_sets(len(ref)):
        assert_exact(path, ref, indices)


@needs_shared
@pytest.mark.shared
def test_shared_avi_is_read_with_pyav_and_exact():
    """decord's errors on this real AVI are intermittent (measured: 0 to 7 wrong of 30 sparse
    index sets from one run to the next), so the file must never go through decord."""
    path = SHARED_VIDEOS / "mpeg4_320x240.avi"
    assert Video(path).backend == "pyav"
    ref = pyav_reference(path)
    n = len(ref)
    rng = np.random.default_rng(1)
    for trial in range(30):
        indices = rng.integers(0, n, size=8).tolist() + ([n - 1] if trial % 3 == 0 else [])
        assert (read_frames(path, indices).numpy() == ref[indices]).all()


@pytest.mark.parametrize("kind", ["empty", "truncated", "text", "audio_only", "missing"])
def test_unreadable_files_raise_video_read_error(bad_videos, tmp_path, kind):
    path = bad_videos.get(kind, tmp_path / "does_not_exist.mp4")
    with pytest.raises(VideoReadError) as err:
        read_frames(path, [0, 1])
    assert str(path) in str(err.value)


def test_probe_reports_container_and_codec(video_dir):
    info = probe(video_dir / "mpeg4.avi")
    assert info.format == "avi" and info.codec == "mpeg4" and (info.height, info.width) == (48, 64)
    assert not info.decord_exact
    assert probe(video_dir / "h264_nob.mkv").decord_exact


def test_decode_threads_do_not_change_frames(video_dir, references):
    ref = references["h264_long_gop.mp4"]
    indices = [149, 3, 77, 77, 120]
    for threads in (0, 2):
        out = read_frames(video_dir / "h264_long_gop.mp4", indices, num_threads=threads).numpy()
        assert (out == ref[indices]).all()


def test_stream_copy_cut_really_cut(references):
    assert len(references["h264_stream_copy_cut.mp4"]) < len(references["h264_bframes_ntsc.mp4"])


def test_cut_faststart_file_is_unreadable_never_frozen(cut_faststart):
    """Issue 11: its header lists 280 frames but only some decode; the old reader repeated the
    last decodable frame for the rest. Now every read, even of frame 0, names the file."""
    import av

    with av.open(str(cut_faststart)) as c:
        assert c.streams.video[0].frames == 280
    assert 0 < len(decodable_frames(cut_faststart)) < 280
    for indices in ([0], [len(decodable_frames(cut_faststart)) - 1], [279], [10, 200]):
        with pytest.raises(VideoReadError, match="cut short") as err:
            read_frames(cut_faststart, indices)
        assert str(cut_faststart) in str(err.value)
    with pytest.raises(VideoReadError, match="cut short"):
        count_frames(cut_faststart)


@pytest.mark.parametrize("name", ["h264_bframes.avi", "mpeg4.avi"])
def test_listed_frames_that_do_not_decode_raise(video_dir, tmp_path, name):
    """An AVI cut short keeps its header count: frames that are there are exact, the missing
    ones raise instead of repeating the last decodable frame."""
    data = (video_dir / name).read_bytes()
    cut = tmp_path / name
    cut.write_bytes(data[: int(len(data) * 0.7)])
    ok = decodable_frames(cut)
    with Video(cut) as video:
        assert video.num_frames == 90 and 0 < len(ok) < 90
        assert (video.read([0, len(ok) // 2]).numpy() == ok[[0, len(ok) // 2]]).all()
        for indices in ([89], [0, len(ok)]):
            with pytest.raises(VideoReadError, match="do not decode") as err:
                video.read(indices)
            assert str(cut) in str(err.value)


# Keyframe intervals for the seeking reader: all-intra, short and long GOPs with B-frames,
# B-pyramid, an open GOP (leading B-frames after a keyframe) and Matroska.
KEYINT_SPECS = {
    "k1.mp4": {"g": "1"},
    "k4_b3.mp4": {"g": "4", "bf": "3"},
    "k16_b3_pyramid.mp4": {"g": "16", "bf": "3", "b-pyramid": "normal"},
    "k250_b3.mp4": {"g": "250", "bf": "3"},
    "k12_open_gop.mp4": {"g": "12", "bf": "3", "x264-params": "open-gop=1:scenecut=0"},
    "k16_b2.mkv": {"g": "16", "bf": "2"},
}


@pytest.fixture(scope="module")
def keyint_videos(tmp_path_factory):
    d = tmp_path_factory.mktemp("keyint")
    paths = {
        name: encode(d / name, pattern_frames(120, seed=7), options={**opts, "crf": "18"})
        for name, opts in KEYINT_SPECS.items()
    }
    return paths, {name: pyav_reference(p) for name, p in paths.items()}


def _packets(path):
    import av

    with av.open(str(path)) as c:
        return [(p.pts, p.is_keyframe) for p in c.demux(video=0) if p.size]


@pytest.mark.parametrize("name", sorted(KEYINT_SPECS))
def test_pyav_seeking_reader_is_exact_and_decodes_only_what_it_needs(keyint_videos, name):
    paths, refs = keyint_videos
    path, ref = paths[name], refs[name]
    n = len(ref)
    packets = _packets(path)
    if name == "k12_open_gop.mp4":  # the file really has B-frames shown before the keyframe they follow
        assert any(k and i + 1 < n and packets[i + 1][0] < t for i, (t, k) in enumerate(packets[1:], 1))
    rng = np.random.default_rng(3)
    sets = index_sets(n) + [train_indices(n, 8, 8, rng).tolist() for _ in range(6)]
    for indices in sets:
        with Video(path, backend="pyav") as video:
            out = video.read(indices).numpy()
            decoded = video.frames_decoded
        assert (out == ref[indices]).all(), f"{name}: {indices}"
        wanted = np.unique(indices)
        if name == "k1.mp4":  # all-intra: one decoded frame per distinct frame asked for
            assert decoded == len(wanted)
        assert decoded <= wanted[-1] + 1  # never more than the sequential decode
    with Video(path, backend="pyav") as video:
        video.read([n - 1])
        keys = sorted(i for i, (t, k) in enumerate(sorted(packets)) if k)
        assert video.frames_decoded <= n - keys[-1]  # from the last keyframe, not from frame 0


def test_all_intra_file_with_decode_times_behind_its_presentation_times_reads_exactly(keyint_videos, tmp_path):
    """The MP4 index holds decode times, and seeking goes by presentation times: frames named by
    the index alone would come out two frames early here (a shortcut tried and dropped)."""
    import av

    paths, refs = keyint_videos
    shifted = tmp_path / "k1_dts_behind.mp4"
    with av.open(str(paths["k1.mp4"])) as src, av.open(str(shifted), "w") as dst:
        stream = dst.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(video=0):
            if packet.size:
                step = packet.duration
                packet.dts, packet.stream = packet.pts - 2 * step, stream
                dst.mux(packet)
    with av.open(str(shifted)) as c:
        times = [e.timestamp for e in c.streams.video[0].index_entries]
        assert [(p.pts, p.dts) for p in c.demux(video=0) if p.size][:2] == [(t + 2 * step, t) for t in times[:2]]
    ref = refs["k1.mp4"]
    for backend in ("auto", "pyav", *(("decord",) if decord_available() else ())):
        for indices in index_sets(len(ref)):
            out = read_frames(shifted, indices, backend=backend).numpy()
            assert (out == ref[indices]).all(), f"{backend}: {indices}"


@pytest.mark.parametrize("name", ["k1.mp4", "k250_b3.mp4", "h264_bframes.avi"])
def test_a_pyav_read_reuses_the_container_the_probe_opened(keyint_videos, video_dir, references, name, monkeypatch):
    import av

    path = video_dir / name if name.endswith(".avi") else keyint_videos[0][name]
    ref = references[name] if name.endswith(".avi") else keyint_videos[1][name]
    opened, real_open = [], av.open
    monkeypatch.setattr(av, "open", lambda *a, **k: opened.append(a[0]) or real_open(*a, **k))
    clear_probe_cache()
    indices = [len(ref) - 1, 3, 40]
    with Video(path, backend="pyav") as video:
        assert (video.read(indices).numpy() == ref[indices]).all()
        assert opened == [str(path)]  # probe and read: one open
        assert (video.read(indices[::-1]).numpy() == ref[indices[::-1]]).all()  # a second read opens again
        assert opened == [str(path)] * 2
    with Video(path, backend="pyav") as video:  # probed already: the read opens the file
        assert (video.read(indices).numpy() == ref[indices]).all()
    assert opened == [str(path)] * 3


@pytest.mark.parametrize("name", ALL_GENERATED)
def test_pyav_backend_exact_on_generated(video_dir, references, name):
    ref = references[name]
    for indices in index_sets(len(ref)):
        out = read_frames(video_dir / name, indices, backend="pyav").numpy()
        assert (out == ref[np.minimum(indices, len(ref) - 1)]).all(), f"{name}: {indices}"


@pytest.mark.parametrize("short_video", ["loop", "repeat"])
@pytest.mark.parametrize("backend", ["auto", "pyav"])
def test_short_videos_still_read_whole(tmp_path, short_video, backend):
    """A video shorter than the clip window (20 frames < 8 x 8) is legitimate: no error, exact frames."""
    path = encode(tmp_path / "short.mp4", pattern_frames(20, seed=9), options={"bf": "2", "g": "8"})
    ref = pyav_reference(path)
    rng = np.random.default_rng(0)
    for _ in range(5):
        for idx in (train_indices(20, 8, 8, rng, short_video), uniform_indices(20, 8, 8, 3, short_video).ravel()):
            with Video(path, backend=backend) as video:
                assert (video.read(idx).numpy() == ref[idx]).all()


# ---------------------------------------------------------------- giant frames and rotation (issue 20)
def test_frames_over_max_pixels_are_refused_before_reading(tmp_path):
    big = encode_grey(tmp_path / "big.mp4", 96, 96, n=2)
    for _ in range(2):  # the first probe opens the file, the second comes from the cache: both check
        with pytest.raises(VideoReadError, match=r"big\.mp4.*96x96 = 9216 pixels, more than max_pixels=4096"):
            probe(big, max_pixels=64 * 64)
    with pytest.raises(VideoReadError, match=r"96x96 .*more than data\.max_frame_pixels=4096"):
        Video(big, max_pixels=64 * 64, max_pixels_key="data.max_frame_pixels")
    with pytest.raises(VideoReadError, match="96x96"):
        read_frames(big, [0, 1], max_pixels=64 * 64)
    assert read_frames(big, [0, 1]).shape == (2, 96, 96, 3)  # the default admits it
    assert read_frames(big, [0], max_pixels=None).shape == (1, 96, 96, 3)  # None: no limit


def test_default_limit_admits_4k_uhd_either_way_and_refuses_larger(tmp_path):
    for width, height in ((3840, 2160), (2160, 3840)):
        check_frame_size("uhd.mp4", width, height)
    for width, height in ((3841, 2160), (2160, 3841)):
        with pytest.raises(VideoReadError, match=rf"{width}x{height} = {width * height} pixels"):
            check_frame_size("big.mp4", width, height)
    huge = encode_grey(tmp_path / "huge.mp4", 4096, 4096)  # 50 KB, 16.8 megapixels a frame
    with pytest.raises(VideoReadError, match=r"4096x4096 = 16777216 pixels, more than max_pixels=8294400"):
        read_frames(huge, [0])


PHONE_PORTRAIT = [0, 1 << 16, 0, -(1 << 16), 0, 0, 0, 0, 1 << 30]  # a phone held upright: turn 90 clockwise


@pytest.mark.parametrize(
    "suffix, turn, quarter_turns",  # quarter_turns: np.rot90's k (counterclockwise) that shows it upright
    [
        (".mp4", dict(matrix=PHONE_PORTRAIT), -1),
        (".mkv", dict(matrix=PHONE_PORTRAIT), -1),
        (".mp4", dict(degrees=90), 1),
        (".mp4", dict(degrees=180), 2),
    ],
)
def test_rotated_video_reads_as_a_player_shows_it(tmp_path, suffix, turn, quarter_turns):
    frames = pattern_frames(20, width=64, height=48, seed=3)
    frames[:, :8, :8] = 255  # a white corner at the coded picture's top left
    path = encode_turned(tmp_path / f"turned{suffix}", frames, **turn)
    coded = pyav_reference(path)  # PyAV's plain decode: the frames as stored, not turned
    assert coded.shape == (20, 48, 64, 3)
    want = np.rot90(coded, quarter_turns, axes=(1, 2))
    idx = [0, 7, 19, 3]
    with Video(path) as video:
        got = video.read(idx).numpy()
        assert video.rotation == -90 * quarter_turns % 360
    np.testing.assert_array_equal(got, want[idx])
    if turn.get("matrix") is PHONE_PORTRAIT:  # the corner goes to the top right, as on the phone's screen
        assert got.shape == (4, 64, 48, 3) and got[0, :8, -8:].min() > 200 and got[0, :8, :8].max() < 200
    if decord_available():  # decord turns them itself (or fails and hands the read to PyAV): the same
        np.testing.assert_array_equal(read_frames(path, idx, backend="decord").numpy(), want[idx])
