"""Clip loading speed of one loader worker (one process, one thread), clips per second.

Training sampling (8 frames every 8th of a random 64-frame window, random rescale and
224 crop) and 10-clip test sampling (80 frames, full frame at short side 256), on the real
Kinetics clip of ``../shared/data/videos`` when present and on generated 10 s 340x256
H.264 videos: as downloaded (long GOP, keyframe every 250 frames) and after the ``resize``
tool (keyframe every 16 frames). Each is compared with a naive loader that decodes every
frame with PyAV and then picks. Also measured: 2 decode threads, decord by name (the
default is PyAV's seeking reader), and decord's decode-time resizing of a 720p source.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch

from cost.bench import print_table, time_interleaved
from cost.data.decode import Video
from cost.data.sampling import train_indices, uniform_indices
from cost.data.tools import resize_video
from cost.data.transforms import MultiViewTransform, TrainTransform

SHARED_CLIP = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "videos" / "kinetics_arm_wrestling.mp4"


def make_video(path: Path, width: int, height: int, seconds: float = 10, fps: int = 30, keyint: int = 250) -> Path:
    """A textured, moving H.264 video (so that decoding costs what real footage costs)."""
    import av

    rng = np.random.default_rng(0)
    n = int(seconds * fps)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    texture = rng.integers(0, 40, (height + 64, width + 64, 3), dtype=np.uint8)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"g": str(keyint), "crf": "23", "preset": "veryfast"}
        for t in range(n):
            shift = t % 64
            base = texture[shift : shift + height, shift : shift + width].astype(np.float32)
            wave = 100 + 80 * np.sin((xx + 3 * t) / 23.0)[..., None] * np.cos((yy - 2 * t) / 31.0)[..., None]
            frame = np.clip(base + wave, 0, 255).astype(np.uint8)
            cx, cy = int(width / 2 + width / 3 * np.sin(t / 20)), int(height / 2 + height / 3 * np.cos(t / 15))
            frame[max(cy - 20, 0) : cy + 20, max(cx - 20, 0) : cx + 20] = (220, 40, 40)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def naive_frames(path: str, indices: np.ndarray) -> torch.Tensor:
    """The baseline: decode every frame of the video with PyAV, then pick."""
    import av

    with av.open(path) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    idx = np.minimum(indices, len(frames) - 1)
    return torch.from_numpy(np.stack([frames[i] for i in idx]))


def _decord_resized(path: str, indices: np.ndarray, short_side: int) -> torch.Tensor:
    import decord

    probe = decord.VideoReader(path, num_threads=1)
    h, w = probe[0].shape[:2]
    scale = short_side / min(h, w)
    vr = decord.VideoReader(path, num_threads=1, width=round(w * scale) // 2 * 2, height=round(h * scale) // 2 * 2)
    return torch.from_numpy(vr.get_batch(np.unique(indices).tolist()).asnumpy())


def _candidates(path: str, task: str, rng: np.random.Generator, include_resize: bool = False) -> dict:
    train_tf = TrainTransform((256, 320), 224)
    test_tf = MultiViewTransform(256, num_crops=1)

    def indices(num_frames):
        if task == "train":
            return train_indices(num_frames, 8, 8, rng)
        return uniform_indices(num_frames, 8, 8, 10).reshape(-1)

    def finish(frames):
        if task == "train":
            return train_tf(frames, rng)
        return test_tf(frames)

    def ours(num_threads=1, backend="auto"):
        def load():
            with Video(path, num_threads=num_threads, backend=backend) as video:
                return finish(video.read(indices(video.num_frames)))

        return load

    with Video(path) as video:
        num_frames = video.num_frames

    def naive():
        return finish(naive_frames(path, indices(num_frames)))

    out = {
        "naive (PyAV all frames)": naive,
        "ours (auto: PyAV seeking, 1 thread)": ours(1),
        "ours (PyAV, 2 threads)": ours(2),
        "ours (decord, 1 thread)": ours(1, "decord"),
        "ours (decord, 2 threads)": ours(2, "decord"),
    }
    if include_resize:
        out["decord, resized at decode to 320"] = lambda: finish(_decord_resized(path, indices(num_frames), 320))
    return out


def run(rounds: int = 5) -> dict:
    torch.set_num_threads(1)  # one loader worker
    rng = np.random.default_rng(0)
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        print("generating 10 s test videos ...", flush=True)
        long_gop = make_video(tmp / "long_gop_340x256.mp4", 340, 256, keyint=250)
        resized = tmp / "keyint16_340x256.mp4"
        resize_video(str(long_gop), str(resized), short_side=256, keyint=16)
        hd = make_video(tmp / "long_gop_1280x720.mp4", 1280, 720, seconds=4, keyint=250)
        videos = {"generated 340x256, keyint 250": long_gop, "generated 340x256, keyint 16 (resize tool)": resized}
        if SHARED_CLIP.is_file():
            videos = {"Kinetics clip 340x256 (real)": SHARED_CLIP, **videos}
        videos["generated 1280x720, keyint 250"] = hd
        for task in ("train", "test"):
            rows, header, naive = [], [], "naive (PyAV all frames)"
            for name, path in videos.items():
                candidates = _candidates(str(path), task, rng, include_resize=path == hd)
                times = time_interleaved(candidates, rounds=rounds)
                results[f"{task}/{name}"] = {
                    k: {"clips_per_s": 1 / v, "speedup_vs_naive": times[naive] / v} for k, v in times.items()
                }
                header += [k for k in candidates if k not in header]
                rows.append((name, times))
            table = [
                [name] + [f"{1 / t[k]:.1f}/s ({t[naive] / t[k]:.1f}x)" if k in t else "-" for k in header]
                for name, t in rows
            ]
            label = "training clips (8x224x224)" if task == "train" else "test videos (10 clips, full frame)"
            print_table(f"{label} per second, one worker; (speedup vs naive)", ["video", *header], table)
    return results


def _header_only_probe(path: str) -> int:
    """What `probe` read before the cut-file check (container, codec, header frame count)."""
    import av

    with av.open(path) as container:
        stream = container.streams.video[0]
        return int(stream.frames or 0)


def cheap_frames(rounds: int = 15) -> dict:
    """Bytes against training clips/s for `resize --keyint 250 | 16 | 1`, one worker.

    The same generated 340x256 10 s source re-encoded three times by the resize tool; a
    training clip is 8 frames every 8th of a random 64-frame window, decoded only (what a
    worker does when the transforms run on the device) and decoded + CPU-transformed (random
    rescale, 224 crop), in one process on one thread. Also: what the cut-file check in `probe`
    costs per clip (a probe runs for every clip once a dataset outgrows its cache).
    """
    import os

    from cost.data.decode import clear_probe_cache, probe

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    tf = TrainTransform((256, 320), 224)
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        print("generating a 10 s 340x256 video and re-encoding it at keyint 250, 16, 1 ...", flush=True)
        source = make_video(tmp / "source.mp4", 340, 256, keyint=250)
        videos = {}
        for keyint in (250, 16, 1):
            videos[keyint] = tmp / f"keyint{keyint}.mp4"
            resize_video(str(source), str(videos[keyint]), short_side=256, keyint=keyint)

        def clip(path, backend, transform):
            def load():
                clear_probe_cache()  # a large dataset misses the probe cache on every clip
                with Video(path, num_threads=1, backend=backend) as video:
                    frames = video.read(train_indices(video.num_frames, 8, 8, rng))
                return tf(frames, rng) if transform else frames

            return load

        kinds = [f"{b}{t}" for t in ("", "+transform") for b in ("auto", "decord")]
        candidates = {}
        for keyint, path in videos.items():
            for kind in kinds:
                candidates[f"keyint {keyint}/{kind}"] = clip(str(path), kind.split("+")[0], "+" in kind)
        p = str(videos[250])
        candidates["probe without the cut-file check"] = lambda: _header_only_probe(p)

        def probe_uncached():
            clear_probe_cache()
            return probe(p)

        candidates["probe with the cut-file check"] = probe_uncached
        times = time_interleaved(candidates, rounds=rounds)
        rows = []
        for keyint, path in videos.items():
            size = os.path.getsize(path)
            row = {"bytes": size, "bytes_vs_keyint250": size / os.path.getsize(videos[250])}
            for kind in kinds:
                t = times[f"keyint {keyint}/{kind}"]
                row[f"{kind}_clips_per_s"] = 1 / t
                row[f"{kind}_speedup_vs_keyint250"] = times[f"keyint 250/{kind}"] / t
            results[f"keyint {keyint}"] = row
            rows.append(
                [
                    keyint,
                    f"{size / 1e6:.2f} MB ({row['bytes_vs_keyint250']:.2f}x)",
                    *(f"{row[f'{k}_clips_per_s']:.1f}/s ({row[f'{k}_speedup_vs_keyint250']:.2f}x)" for k in kinds),
                ]
            )
        print_table(
            "resize --keyint: bytes and training clips per second, one worker (vs keyint 250); auto = the "
            "seeking PyAV reader, decord = data.decode_backend=decord",
            ["keyint", "bytes", *kinds],
            rows,
        )
        check = times["probe with the cut-file check"] - times["probe without the cut-file check"]
        clip_time = times["keyint 1/auto"]  # the cheapest clip: where the check weighs most
        results["cut_file_check"] = {
            "probe_ms_without": 1e3 * times["probe without the cut-file check"],
            "probe_ms_with": 1e3 * times["probe with the cut-file check"],
            "extra_ms_per_clip": 1e3 * check,
            "share_of_fastest_clip": check / clip_time,
        }
        print(
            f"\ncut-file check: probe {1e3 * times['probe without the cut-file check']:.2f} ms -> "
            f"{1e3 * times['probe with the cut-file check']:.2f} ms per clip ({1e3 * check:+.2f} ms, "
            f"{100 * check / clip_time:+.1f} % of an all-intra clip)"
        )
    return results


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(cheap_frames(*(int(a) for a in sys.argv[1:2])), indent=2))
