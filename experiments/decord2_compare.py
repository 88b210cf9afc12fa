"""decord2 against decord 0.6.0 and PyAV: exact frames, and ms per training clip, side by side.

Both packages import as `decord` (and loading both into one process crashes it), so each runs
in its own process beside PyAV, and decord2 / decord is the ratio of their ratios to PyAV.
decord2 is installed into a folder apart from the venv:

    pip install --target /tmp/d2pkgs decord2==3.4.0 --no-deps
    PYTHONPATH=src python experiments/decord2_compare.py --decord2 /tmp/d2pkgs --clips 30 --rounds 3

Files: the demo's synthetic clips, generated 340x256 10 s videos (keyint 250, 16, 1), the
real clips of --shared, and (exactness only) the codec and container matrix of tests/data.
Exactness: each reader's frames at 16 random sets of 8 sorted indices per file (every fourth
with the last frame) against PyAV's sequential decode. Speed: the same training windows
(`sampling.train_indices`, 8 frames every 8th; every 4th on the synthetic clips, as the demo)
for all, one fresh open per clip (PyAV's probe cache cleared), PyAV and decord taking turns
clip by clip; medians, over --rounds processes per decord.
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


def speed(path: Path, fns: dict, clips: int, stride: int) -> dict:
    n = len(reference(path))
    rng = np.random.default_rng(1)
    windows = [np.unique(sampling.train_indices(n, 8, stride, rng)).tolist() for _ in range(clips)]
    times: dict[str, list[float]] = {name: [] for name in fns}
    for idx in windows:
        for name, read in fns.items():
            t = time.perf_counter()
            read(path, idx)
            times[name].append(1000 * (time.perf_counter() - t))
    return {name: statistics.median(v) for name, v in times.items()}


def worker(files: list[Path], clips: int, timed: set[str]) -> None:
    """In this process: PyAV and whichever `decord` imports here; one JSON line per file."""
    import decord

    fns = readers(decord)
    for path in files:
        stride = 4 if path.name.startswith("train_") else 8  # the demo's synthetic clips: 8 frames every 4th
        ms = speed(path, fns, clips, stride) if path.name in timed else None
        row = {"file": path.name, "version": decord.__version__, "exact": exactness(path, fns), "ms": ms}
        print(json.dumps(row), flush=True)


def test_set(folder: Path) -> list[Path]:
    """The codec and container matrix of tests/data (H.264 in MP4/MKV/AVI, MPEG-4, HEVC, VP9, VFR, a cut)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.helpers.data import write_video_set

    return write_video_set(folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decord2", required=True, help="folder decord2 was pip-installed into with --target")
    parser.add_argument("--shared", default="/work/shared/data/videos", help="folder of real clips (*.mp4, *.avi)")
    parser.add_argument("--clips", type=int, default=40, help="training clips timed per file and round")
    parser.add_argument("--rounds", type=int, default=3, help="processes per decord, taking turns")
    parser.add_argument("--worker", nargs="*", help=argparse.SUPPRESS)
    parser.add_argument("--timed", nargs="*", default=[], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        return worker([Path(f) for f in args.worker], args.clips, set(args.timed))
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "matrix").mkdir()
        synthetic = ensure_synthetic(tmp / "synthetic", num_train=4, num_val=0, num_test=0, verbose=False)
        timed = sorted((synthetic / "videos").rglob("*.mp4"))[:4]
        timed += [make_video(tmp / f"gen_k{k}.mp4", 340, 256, seconds=10, keyint=k) for k in (250, 16, 1)]
        timed += sorted(p for p in Path(args.shared).glob("*") if p.suffix in (".mp4", ".avi"))
        files = timed + test_set(tmp / "matrix")
        runs: dict[str, list[dict]] = {"decord": [], "decord2": []}
        for r in range(args.rounds):  # exactness from the first round only
            for name, extra in (("decord", []), ("decord2", [args.decord2])):
                env = dict(os.environ, PYTHONPATH=os.pathsep.join([*extra, os.environ.get("PYTHONPATH", "")]))
                cmd = [sys.executable, __file__, "--decord2", args.decord2, "--clips", str(args.clips)]
                cmd += ["--timed", *(p.name for p in timed), "--worker", *map(str, files if r == 0 else timed)]
                out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
                runs[name].append({row["file"]: row for row in map(json.loads, out.stdout.splitlines())})
        first = {name: rounds[0] for name, rounds in runs.items()}
        v1, v2 = (next(iter(first[n].values()))["version"] for n in ("decord", "decord2"))
        print(f"exact index sets (of 16): PyAV, decord {v1}, decord2 {v2}")
        for f in files:
            e1, e2 = first["decord"][f.name]["exact"], first["decord2"][f.name]["exact"]
            print(f"| {f.name} | {e1['pyav']} | {e1['decord']} | {e2['decord']} |")
        print(f"ms per clip (medians of {args.rounds} rounds): PyAV, decord {v1}, decord2 {v2}; decord / PyAV,")
        print("decord2 / PyAV (each in one process with PyAV), decord2 / decord (the ratio of those)")
        for f in timed:
            ms = {n: [rnd[f.name]["ms"] for rnd in rounds] for n, rounds in runs.items()}
            pyav = statistics.median([m["pyav"] for n in ms for m in ms[n]])
            r1 = statistics.median([m["decord"] / m["pyav"] for m in ms["decord"]])
            r2 = statistics.median([m["decord"] / m["pyav"] for m in ms["decord2"]])
            d1, d2 = (statistics.median([m["decord"] for m in ms[n]]) for n in ("decord", "decord2"))
            print(f"| {f.name} | {pyav:.1f} | {d1:.1f} | {d2:.1f} | {r1:.2f} | {r2:.2f} | {r2 / r1:.2f} |")


if __name__ == "__main__":
    main()
