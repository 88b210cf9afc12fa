"""Does the loader feed the model? Clips per second of the model alone, of the loader alone and
end to end through the real Trainer, on generated 340x256 10 s H.264 videos with a keyframe
every 250, 16 and 1 frames, with the CPU and the device transforms (`data.device_transforms`).

    python -m cost.bench feed            # full size: CoST(b) R50 8x224, batch 16, cores-1 workers
    python -m cost.bench feed --quick    # the small CPU preset (tiny network, a few batches)

Candidates of one table are measured round-robin in one process (medians), so the ratios
printed (device vs CPU transforms, N workers vs 1, e2e / model, loader / model) compare
like with like. Writes bench_results/feed.json. This module measures; `feed_report` prints
the tables and builds the JSON.
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from cost.bench import feed_report as report
from cost.bench.data import make_video
from cost.bench.feed_train import device, e2e_clips_per_s, model_clips_per_s

KEYINTS = (250, 16, 1)
FULL = dict(
    arch="cost_b",
    depth=50,
    batch=16,
    steps=30,
    warmup=5,
    loader_batches=4,
    rounds=1,
    precision="bf16-mixed",
    model_crop=224,
)
# The CPU preset: the loader at full size (340x256 video, scale 256-320, 224 crops), the
# model-only and end-to-end runs at 112x112 (a tiny network at 224 trains at < 1 clip/s on 2 cores).
QUICK = dict(
    arch="cost_b",
    depth="tiny",
    batch=4,
    steps=4,
    warmup=2,
    loader_batches=5,
    rounds=2,
    precision="32-true",
    model_crop=112,
)


def make_videos(root: Path, copies: int, seconds: float, keyints=KEYINTS) -> dict[int, Path]:
    """One folder-format dataset per keyframe interval: root/k<keyint>/train/<class>/<n>.mp4.

    The copies are hard links of one encoded video (the same decode cost per clip): enough of
    them that a timed run stays inside one epoch, so no epoch boundary drains the workers.
    """
    out = {}
    for keyint in keyints:
        src = make_video(root / f"source_k{keyint}.mp4", 340, 256, seconds=seconds, keyint=keyint)
        top = root / f"k{keyint}"
        for i in range(copies):
            d = top / "train" / f"class{i % 2}"
            d.mkdir(parents=True, exist_ok=True)
            try:
                os.link(src, d / f"v{i}.mp4")
            except OSError:  # a file system without hard links
                shutil.copy(src, d / f"v{i}.mp4")
        out[keyint] = top
    return out


def datamodule(root: Path, workers: int, device_transforms: bool, batch: int, crop: int = 224, backend: str = "auto"):
    from cost.data import VideoDataModule

    dm = VideoDataModule(
        format="folder",
        root=str(root),
        train_split="train",
        val_split="train",
        test_split="train",
        num_frames=8,
        frame_stride=8,
        train_short_side=(crop * 8 // 7, crop * 10 // 7),
        train_crop=crop,
        val_short_side=crop * 8 // 7,
        val_crop=crop,
        flip=True,
        batch_size=batch,
        num_workers=workers,
        pin_memory=torch.cuda.is_available(),
        device_transforms=device_transforms,
        decode_backend=backend,
    )
    dm.setup("fit")
    return dm


def loader_clips_per_s(
    root: Path,
    workers: int,
    device_transforms: bool,
    batch: int,
    batches: int,
    finish: bool = True,
    backend: str = "auto",
) -> float:
    """Clips/s of ready batches: workers decode (and, CPU path, transform); the device path's
    transform runs on the device in this process, as the LightningModule runs it (finish=False:
    what the workers deliver, without it)."""
    dev = device()
    dm = datamodule(root, workers, device_transforms, batch, backend=backend)
    loader, pre = dm.train_dataloader(), dm.device_preprocessor()
    finish = finish and pre is not None
    pre = pre.to(dev) if finish else None
    it = iter(loader)
    n, start = 0, None
    warm = max(1, workers)  # every worker has started and delivered once
    for i in range(warm + max(batches, 2 * workers)):
        try:
            b = next(it)
        except StopIteration:
            it = iter(loader)
            b = next(it)
        b = {k: v.to(dev, non_blocking=True) if torch.is_tensor(v) else v for k, v in b.items()}
        b = pre(b, "train") if pre is not None else b  # pre is None unless finish
        if dev.type == "cuda":
            torch.cuda.synchronize()
        if i == warm - 1:
            start = time.perf_counter()
        elif i >= warm:
            n += b["clips"].shape[0]
    assert start is not None  # set after the warm-up batches, which always run
    seconds = time.perf_counter() - start
    del it, loader
    return n / seconds


def finish_clips_per_s(root: Path, batch: int, batches: int) -> float:
    """The device path's cost in the training process alone: the model's `DevicePreprocessor`
    (resize, crop, flip, normalise) of uint8 batches already on the device, clips/s."""
    dev = device()
    dm = datamodule(root, 0, True, batch)
    it, pre = iter(dm.train_dataloader()), dm.device_preprocessor().to(dev)
    ready = [{k: v.to(dev) if torch.is_tensor(v) else v for k, v in next(it).items()} for _ in range(batches + 1)]
    pre(ready.pop(), "train")  # warm-up
    if dev.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for b in ready:
        pre(b, "train")
    if dev.type == "cuda":
        torch.cuda.synchronize()
    return batch * len(ready) / (time.perf_counter() - start)


def _median_rounds(fns: dict, rounds: int) -> dict:
    samples: dict[Any, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            samples[k].append(fn())
    return {k: statistics.median(v) for k, v in samples.items()}


def run(
    quick: bool = False, workers: int | None = None, rounds: int | None = None, gpu_extras: bool = True, keyints=KEYINTS
) -> dict:
    """Measure the model, the loader and the Trainer in turn, printing each table as it is done
    (`feed_report`); returns the summary written to feed.json."""
    p: dict[str, Any] = dict(QUICK if quick else FULL)
    if rounds:
        p["rounds"] = rounds
    keyints = tuple(int(k) for k in keyints)
    if 250 not in keyints:
        raise ValueError(f"--keyints {keyints}: 250 (the reference interval of every ratio) must be one of them")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 2
    workers = workers or max(1, cores - 1)
    # Videos per dataset: every timed loader or Trainer run stays inside one epoch.
    p["copies"] = p["batch"] * max(workers + max(p["loader_batches"], 2 * workers), p["warmup"] + p["steps"] + 2)
    dev = device()
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.set_float32_matmul_precision("high")
    report.header(dev, p, workers)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        roots = make_videos(Path(tmp), p["copies"], seconds=10, keyints=keyints)
        print(f"generated the videos in {time.perf_counter() - t0:.0f} s", flush=True)
        model = measure_model(p, dev, gpu_extras)
        report.model_table(model, p)
        loader = measure_loader(roots, p, workers)
        report.loader_tables(loader, keyints, workers, dev)
        e2e = measure_e2e(roots, p, workers, quick)
        report.e2e_table(e2e, model["eager"], p)
    return report.summary(dev, p, workers, quick, keyints, model, loader, e2e)


def measure_model(p: dict, dev: torch.device, gpu_extras: bool) -> dict:
    """Model alone, clips/s per variant (on a GPU also each GPU default switched off, and the optional ones on)."""

    def model_fn(precision=p["precision"], benchmark=True, **kw):
        def fn():
            torch.backends.cudnn.benchmark = benchmark and dev.type == "cuda"
            try:
                return model_clips_per_s(
                    p["arch"],
                    p["depth"],
                    p["batch"],
                    p["steps"],
                    p["warmup"],
                    precision,
                    crop=p["model_crop"],
                    **kw,
                )
            finally:
                torch.backends.cudnn.benchmark = dev.type == "cuda"

        return fn

    model_fns = {"eager": model_fn()}
    if dev.type == "cuda" and gpu_extras:
        model_fns["fp32 (32-true)"] = model_fn("32-true")
        model_fns["cudnn.benchmark off"] = model_fn(benchmark=False)
        model_fns["channels_last_3d"] = model_fn(channels_last=True)
    model = _median_rounds(model_fns, 1)
    if dev.type == "cuda" and gpu_extras:
        model["compiled"] = model_fn(compile=True)()
    return model


def measure_loader(roots: dict[int, Path], p: dict, workers: int) -> dict:
    """Loader alone, clips/s keyed (keyint, transforms or decoder, workers): one worker and N,
    CPU vs device transforms, the workers' output alone, the preprocessor alone, decord vs PyAV."""
    loader_fns: dict[tuple[int, bool | str, int], Callable[..., float]] = {}
    for keyint, root in roots.items():
        for dt in (False, True):
            for w in sorted({1, workers}):
                loader_fns[(keyint, dt, w)] = lambda r=root, d=dt, w=w: loader_clips_per_s(
                    r, w, d, p["batch"], p["loader_batches"]
                )
        loader_fns[(keyint, "workers only", 1)] = lambda r=root: loader_clips_per_s(
            r, 1, True, p["batch"], p["loader_batches"], finish=False
        )
        if keyint == 250:  # the same work at every keyframe interval
            loader_fns[(keyint, "finish only", 0)] = lambda r=root: finish_clips_per_s(
                r, p["batch"], p["loader_batches"]
            )
        for backend in ("decord", "pyav"):  # which CPU decoder feeds best (device path, N workers)
            loader_fns[(keyint, backend, workers)] = lambda r=root, b=backend: loader_clips_per_s(
                r, workers, True, p["batch"], p["loader_batches"], backend=b
            )
    return _median_rounds(loader_fns, p["rounds"])


def measure_e2e(roots: dict[int, Path], p: dict, workers: int, quick: bool) -> dict:
    """End to end through the Trainer (best loader settings: device transforms, N workers), clips/s."""
    e2e_fns: dict[str, Callable[..., float]] = {
        f"keyint {k}, device transforms": (lambda r=r: e2e_clips_per_s(r, workers, True, p))
        for k, r in roots.items()
        if k == 250 or not quick
    }
    e2e_fns["keyint 250, CPU transforms"] = lambda: e2e_clips_per_s(roots[250], workers, False, p)
    return _median_rounds(e2e_fns, 1)
