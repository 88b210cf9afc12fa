"""PyAV's seeking reader: exact on every keyframe interval, decoding only what it needs."""

from __future__ import annotations

import numpy as np
import pytest

from cost.data import Video, read_frames, train_indices
from cost.data.decode import clear_probe_cache, decord_available
from tests.helpers.data import ALL_GENERATED, encode, index_sets, pattern_frames, pyav_reference

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


def test_the_reader_alone_reads_sorted_unique_indices_and_closes_the_probes_container(keyint_videos):
    """`PyavReader` behind `decode.Reader`: frames for sorted unique indices, the tally of the read,
    and `close()` letting go of the container the probe opened when nothing was read."""
    from cost.data.decode import _file_key, _probe
    from cost.data.pyav_reader import PyavReader

    paths, refs = keyint_videos
    path, ref = paths["k16_b3_pyramid.mp4"], refs["k16_b3_pyramid.mp4"]
    clear_probe_cache()
    info, container = _probe(_file_key(str(path)))
    reader = PyavReader(str(path), info, container=container)
    assert reader.seek and reader.num_frames == len(ref)
    idx = np.array([2, 40, 41, 119])
    got = reader.frames(idx)
    assert got.dtype == np.uint8 and (got == ref[idx]).all()
    assert 4 <= reader.decoded <= 120 and reader.rotation == 0
    clear_probe_cache()
    info, container = _probe(_file_key(str(path)))
    PyavReader(str(path), info, container=container).close()
    with pytest.raises(AssertionError):  # closed: PyAV 18 asserts the container is open
        next(container.demux(video=0))
