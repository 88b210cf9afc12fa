"""decord2 against decord 0.6.0 and PyAV: exact frames, and ms per training clip, side by side.

Both packages import as `decord` (and loading both into one process crashes it), so each runs
in its own process beside PyAV, and decord2 / decord is the ratio of their ratios to PyAV.
decord2 is installed into a folder apart from the venv:

    pip install --target /tmp/d2pkgs decord2==3.4.0 --no-deps
    PYTHONPATH=src python experiments/decord2_compare.py --decord2 /tmp/d2pkgs [--shared DIR] [--clips 40]

Exactness: every reader's frames at random index sets (16 per file, sparse, unsorted, with
the last frame) against PyAV's sequential decode. Speed: the same training windows (8 frames
every 8th, `sampling.train_indices`) for all, one fresh open per clip (PyAV's probe cache
cleared), PyAV and decord taking turns clip by clip; medians.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from cost.bench.data import make_video
from cost.data import Video, sampling
from cost.data.decode import clear_probe_cache
from cost.data.synthetic import ensure_synthetic


def reference(path: Path) -> np.ndarray:
    import av

    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


def readers(decord) -> dict:
    """name -> read(path, sorted unique indices) -> uint8 (N, H, W, 3), opening the file afresh."""

    def with_decord(path, idx):
        return decord.VideoReader(str(path), num_threads=1).get_batch(list(idx)).asnumpy()

    def pyav(path, idx):
        clear_probe_cache()
        with Video(path, backend="pyav") as v:
            return v.read(idx).numpy()

    return {"pyav": pyav, "decord": with_decord}


def exactness(path: Path, fns: dict, sets: int = 16) -> dict:
    ref = reference(path)
    n = len(ref)
    rng = np.random.default_rng(0)
    wrong = dict.fromkeys(fns, 0)
    for s in range(sets):
        idx = np.unique(np.r_[rng.choice(n, size=min(8, n), replace=False), [n - 1] if s % 4 == 0 else []]).astype(int)
        for name, read in fns.items():
            try:
                got = read(path, idx.tolist())
                wrong[name] += int(got.shape != ref[idx].shape or (got != ref[idx]).any())
            except Exception:  # noqa: BLE001 - a reader that fails counts as wrong
                wrong[name] += 1
    return {name: f"{sets - w}/{sets}" for name, w in wrong.items()}


def speed(path: Path, fns: dict, clips: int) -> dict:
    n = len(reference(path))
    rng = np.random.default_rng(1)
    windows = [np.unique(sampling.train_indices(n, 8, 8, rng)).tolist() for _ in range(clips)]
    times = {name: [] for name in fns}
    for idx in windows:
        for name, read in fns.items():
            t = time.perf_counter()
            read(path, idx)
            times[name].append(1000 * (time.perf_counter() - t))
    return {name: statistics.median(v) for name, v in times.items()}


def worker(files: list[Path], clips: int) -> None:
    """In this process: PyAV and whichever `decord` imports here; one JSON line per file."""
    import decord

    fns = readers(decord)
    for path in files:
        print(
            json.dumps(
                {
                    "file": path.name,
                    "version": decord.__version__,
                    "exact": exactness(path, fns),
                    "ms": speed(path, fns, clips),
                }
            ),
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decord2", required=True, help="folder decord2 was pip-installed into with --target")
    parser.add_argument("--shared", default="/work/shared/data/videos", help="folder of real clips (*.mp4, *.avi)")
    parser.add_argument("--clips", type=int, default=40, help="training clips timed per file")
    parser.add_argument("--worker", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        return worker([Path(f) for f in args.worker], args.clips)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        synthetic = ensure_synthetic(tmp / "synthetic", num_train=4, num_val=0, num_test=0, verbose=False)
        files = sorted((synthetic / "videos").rglob("*.mp4"))[:4]
        files += [make_video(tmp / f"gen_k{k}.mp4", 340, 256, seconds=10, keyint=k) for k in (250, 16, 1)]
        files += sorted(p for p in Path(args.shared).glob("*") if p.suffix in (".mp4", ".avi"))
        runs = {}
        for name, extra in (("decord", []), ("decord2", [args.decord2])):
            env = dict(os.environ, PYTHONPATH=os.pathsep.join([*extra, os.environ.get("PYTHONPATH", "")]))
            cmd = [sys.executable, __file__, "--decord2", args.decord2, "--clips", str(args.clips), "--worker"]
            out = subprocess.run([*cmd, *map(str, files)], env=env, capture_output=True, text=True, check=True)
            runs[name] = [json.loads(line) for line in out.stdout.splitlines()]
        v1, v2 = runs["decord"][0]["version"], runs["decord2"][0]["version"]
        print(
            f"| file | exact index sets: PyAV, decord {v1}, decord2 {v2} | ms per clip: PyAV, decord {v1} "
            "(its process) | ms per clip: PyAV, decord2 (its process) "
            "| decord / PyAV, decord2 / PyAV, decord2 / decord |"
        )
        print("|---|---|---|---|---|")
        for a, b in zip(runs["decord"], runs["decord2"], strict=True):
            r1, r2 = a["ms"]["decord"] / a["ms"]["pyav"], b["ms"]["decord"] / b["ms"]["pyav"]
            print(
                f"| {a['file']} | {a['exact']['pyav']}, {a['exact']['decord']}, {b['exact']['decord']} "
                f"| {a['ms']['pyav']:.1f}, {a['ms']['decord']:.1f} | {b['ms']['pyav']:.1f}, {b['ms']['decord']:.1f} "
                f"| {r1:.2f}, {r2:.2f}, {r2 / r1:.2f} |"
            )


if __name__ == "__main__":
    main()
