"""Clip loading speed of one loader worker (one process, one thread), clips per second.

Training sampling (8 frames every 8th of a random 64-frame window, random rescale and
224 crop) and 10-clip test sampling (80 frames, full frame at short side 256), on the real
Kinetics clip of ``../shared/data/videos`` when present and on generated 10 s 340x256
H.264 videos: as downloaded (long GOP, keyframe every 250 frames) and after the ``resize``
tool (keyframe every 16 frames). Each is compared with a naive loader that decodes every
frame with PyAV and then picks. Also measured: decord ``num_threads``, the PyAV backend,
and decode-time resizing of a 720p source.
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
        "ours (decord, 1 thread)": ours(1),
        "ours (decord, 2 threads)": ours(2),
        "ours (decord, auto threads)": ours(0),
        "ours (PyAV backend)": ours(1, "pyav"),
    }
    if include_resize:
        out["decord, resized at decode to 320"] = lambda: finish(_decord_resized(path, indices(num_frames), 320))
    return out


def run(rounds: int = 5) -> dict:
    torch.set_num_threads(1)  # one loader worker
    rng = np.random.default_rng(0)
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
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
            rows = [
                [name] + [f"{1 / t[k]:.1f}/s ({t[naive] / t[k]:.1f}x)" if k in t else "-" for k in header]
                for name, t in rows
            ]
            label = "training clips (8x224x224)" if task == "train" else "test videos (10 clips, full frame)"
            print_table(f"{label} per second, one worker; (speedup vs naive)", ["video", *header], rows)
    return results
