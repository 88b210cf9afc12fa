"""Does the loader feed the model? Clips per second of the model alone, of the loader alone and
end to end through the real Trainer, on generated 340x256 10 s H.264 videos with a keyframe
every 250, 16 and 1 frames, with the CPU and the device transforms (`data.device_transforms`).

    python -m cost.bench feed            # full size: CoST(b) R50 8x224, batch 16, cores-1 workers
    python -m cost.bench feed --quick    # the small CPU preset (tiny network, a few batches)

Candidates of one table are measured round-robin in one process (medians), so the ratios
printed (device vs CPU transforms, N workers vs 1, e2e / model, loader / model) compare
like with like. Writes bench_results/feed.json.
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from cost.bench import machine, print_table
from cost.bench.data import make_video

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


def _device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


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
    from cost.data.transforms import finish_batch

    dev = _device()
    loader = datamodule(root, workers, device_transforms, batch, backend=backend).train_dataloader()
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
        b = finish_batch(b) if finish else b
        if dev.type == "cuda":
            torch.cuda.synchronize()
        if i == warm - 1:
            start = time.perf_counter()
        elif i >= warm:
            n += b["clips"].shape[0]
    seconds = time.perf_counter() - start
    del it, loader
    return n / seconds


def finish_clips_per_s(root: Path, batch: int, batches: int) -> float:
    """The device path's cost in the training process alone: `finish_batch` (resize, crop,
    flip, normalise) of uint8 batches already on the device, clips/s."""
    from cost.data.transforms import finish_batch

    dev = _device()
    it = iter(datamodule(root, 0, True, batch).train_dataloader())
    ready = [{k: v.to(dev) if torch.is_tensor(v) else v for k, v in next(it).items()} for _ in range(batches + 1)]
    finish_batch(ready.pop())  # warm-up
    if dev.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for b in ready:
        finish_batch(b)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    return batch * len(ready) / (time.perf_counter() - start)


def _net(arch: str, depth, channels_last: bool = False, compile: bool = False):
    from cost.models.factory import build_net

    return build_net({"arch": arch, "depth": depth, "channels_last": channels_last, "compile": compile}, 400)


def model_clips_per_s(
    arch,
    depth,
    batch: int,
    steps: int,
    warmup: int,
    precision: str,
    channels_last: bool = False,
    compile: bool = False,
    crop: int = 224,
) -> float:
    """Train steps (forward, backward, SGD) on synthetic clips already on the device."""
    dev = _device()
    net = _net(arch, depth, channels_last, compile).to(dev).train()
    opt = torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.9)
    clip = torch.randn(batch, 3, 8, crop, crop, device=dev)
    if channels_last:
        clip = clip.contiguous(memory_format=torch.channels_last_3d)
    label = torch.randint(0, 400, (batch,), device=dev)
    dtype = torch.bfloat16 if precision.startswith("bf16") else None

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast(dev.type, dtype=dtype, enabled=dtype is not None):
            loss = F.cross_entropy(net(clip), label)
        loss.backward()
        opt.step()

    for _ in range(warmup):
        step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    return batch * steps / (time.perf_counter() - start)


class _StepTimer:
    """Lightning callback: wall time of the training batches after `warmup`."""

    def __init__(self, warmup: int):
        import pytorch_lightning as pl

        class Timer(pl.Callback):
            def __init__(cb):
                cb.start, cb.clips = None, 0

            def on_train_batch_end(cb, trainer, module, outputs, batch, batch_idx):
                if trainer.global_step == warmup:
                    if torch.cuda.is_available():
                        torch.cuda.synchronize()
                    cb.start = time.perf_counter()
                elif trainer.global_step > warmup:
                    cb.clips += int(batch["clips"].shape[0])

            def on_train_end(cb, trainer, module):
                if torch.cuda.is_available():
                    torch.cuda.synchronize()
                cb.seconds = time.perf_counter() - cb.start

        self.callback = Timer()


def e2e_clips_per_s(
    root: Path, workers: int, device_transforms: bool, p: dict, channels_last: bool = False, compile: bool = False
) -> float:
    """`trainer.fit` of the VideoClassifier on the real data module: clips/s after warm-up."""
    import pytorch_lightning as pl

    from cost.training.module import VideoClassifier
    from cost.training.schedules import recipe_file

    # The paper's recipe with every key, at a fixed lr and no decay steps.
    optim = {**recipe_file("paper"), "lr": 0.01, "scale_lr": False}
    optim["scheduler"]["milestones"] = []
    timer = _StepTimer(p["warmup"])
    module = VideoClassifier(
        model={"arch": p["arch"], "depth": p["depth"], "channels_last": channels_last, "compile": compile},
        optim=optim,
        num_classes=2,
        batch_size=p["batch"],
    )
    trainer = pl.Trainer(
        accelerator="auto",
        devices=1,
        precision=p["precision"],
        max_steps=p["warmup"] + p["steps"],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        benchmark=torch.cuda.is_available(),
        callbacks=[timer.callback],
    )
    trainer.fit(module, datamodule=datamodule(root, workers, device_transforms, p["batch"], p["model_crop"]))
    return timer.callback.clips / timer.callback.seconds


def _median_rounds(fns: dict, rounds: int) -> dict:
    samples = {k: [] for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            samples[k].append(fn())
    return {k: statistics.median(v) for k, v in samples.items()}


def run(
    quick: bool = False, workers: int | None = None, rounds: int | None = None, gpu_extras: bool = True, keyints=KEYINTS
) -> dict:
    p = dict(QUICK if quick else FULL)
    if rounds:
        p["rounds"] = rounds
    keyints = tuple(int(k) for k in keyints)
    if 250 not in keyints:
        raise ValueError(f"--keyints {keyints}: 250 (the reference interval of every ratio) must be one of them")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 2
    workers = workers or max(1, cores - 1)
    # Videos per dataset: every timed loader or Trainer run stays inside one epoch.
    p["copies"] = p["batch"] * max(workers + max(p["loader_batches"], 2 * workers), p["warmup"] + p["steps"] + 2)
    dev = _device()
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.set_float32_matmul_precision("high")
    print(
        f"feed benchmark on {dev} ({torch.cuda.get_device_name() if dev.type == 'cuda' else machine()['cpu']}), "
        f"{p['arch']} R{p['depth']} 8x224, batch {p['batch']}, {workers} workers, {p['precision']}",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        roots = make_videos(Path(tmp), p["copies"], seconds=10, keyints=keyints)
        print(f"generated the videos in {time.perf_counter() - t0:.0f} s", flush=True)

        # --- model alone (on a GPU also each GPU default switched off, and the optional ones on)
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
        print_table(
            f"model only, train step at 8x{p['model_crop']}x{p['model_crop']} (clips/s)",
            ["variant", "clips/s"],
            [[k, v] for k, v in model.items()],
        )

        # --- loader alone: one worker and N workers, CPU vs device transforms, per keyframe interval
        loader_fns = {}
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
        loader = _median_rounds(loader_fns, p["rounds"])
        rows = []
        for keyint in keyints:
            for w in sorted({1, workers}):
                off, on = loader[(keyint, False, w)], loader[(keyint, True, w)]
                only = loader[(keyint, "workers only", 1)] if w == 1 else float("nan")
                rows.append([keyint, w, off, on, on / off, only, only / off, on / loader[(keyint, True, 1)]])
        print_table(
            f"loader only (clips/s): CPU transforms in the workers vs device transforms (on {dev.type})",
            [
                "keyint",
                "workers",
                "CPU transforms",
                "device transforms",
                "device / CPU",
                "device, worker output alone",
                "worker alone / CPU",
                f"device: {workers} workers / 1",
            ],
            rows,
        )
        finish = loader[(250, "finish only", 0)]
        print(
            f"device transforms, the training process's part alone (finish_batch on {dev.type}): {finish:.1f} clips/s",
            flush=True,
        )
        print_table(
            f"CPU decoder, device transforms, {workers} workers (clips/s)",
            ["keyint", "decord", "pyav (seeking)", "pyav / decord"],
            [
                [
                    k,
                    loader[(k, "decord", workers)],
                    loader[(k, "pyav", workers)],
                    loader[(k, "pyav", workers)] / loader[(k, "decord", workers)],
                ]
                for k in keyints
            ],
        )

        # --- end to end through the Trainer (best loader settings: device transforms, N workers)
        e2e_fns = {
            f"keyint {k}, device transforms": (lambda r=r: e2e_clips_per_s(r, workers, True, p))
            for k, r in roots.items()
            if k == 250 or not quick
        }
        e2e_fns["keyint 250, CPU transforms"] = lambda: e2e_clips_per_s(roots[250], workers, False, p)
        e2e = _median_rounds(e2e_fns, 1)
        base = model["eager"]
        print_table(
            f"end to end, trainer.fit at 8x{p['model_crop']}x{p['model_crop']} (clips/s)",
            ["setting", "clips/s", "e2e / model"],
            [[k, v, v / base] for k, v in e2e.items()],
        )
    names = {
        False: "cpu_transforms",
        True: "device_transforms",
        "workers only": "device_transforms_worker_output",
        "decord": "device_transforms_decord",
        "pyav": "device_transforms_pyav",
        "finish only": "device_transforms_finish_only",
    }
    loader_json = {f"keyint{k}_{names[dt]}_{w}workers": v for (k, dt, w), v in loader.items()}
    best_loader = loader[(250, True, workers)]
    e2e_250 = e2e["keyint 250, device transforms"]
    summary = {
        "device": torch.cuda.get_device_name() if dev.type == "cuda" else f"cpu ({machine()['cpu']})",
        "model_clips_per_s": base,
        "loader_clips_per_s": best_loader,
        "e2e_clips_per_s": e2e_250,
        "workers": workers,
        "device_finish_clips_per_s": finish,
        "preset": "quick" if quick else "full",
        "settings": p,
        "model": model,
        "loader": loader_json,
        "e2e": e2e,
        "ratios": {
            "e2e_over_model": e2e_250 / base,
            "loader_over_model": best_loader / base,
            "device_over_cpu_transforms_1worker_keyint250": loader[(250, True, 1)] / loader[(250, False, 1)],
            "worker_output_device_over_cpu_transforms_1worker_keyint250": loader[(250, "workers only", 1)]
            / loader[(250, False, 1)],
            **(
                {"keyint1_over_keyint250_1worker_device": loader[(1, True, 1)] / loader[(250, True, 1)]}
                if 1 in keyints
                else {}
            ),
            "workers_scaling_keyint250_device": loader[(250, True, workers)] / loader[(250, True, 1)],
        },
    }
    print("\nratios: " + ", ".join(f"{k} {v:.2f}" for k, v in summary["ratios"].items()))
    return summary
