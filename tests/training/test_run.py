"""End to end: fast_dev_run per arch, a real short training, resume, DDP exactness, eval.py."""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch

from cost.analysis.wandb_history import history, offline_records
from cost.training.coefficients import CLASS_COLUMNS, CURVE_COLUMNS, LAYER_COLUMNS, read_csv
from cost.training.runner import train
from training_helpers import EVAL_PY, PYTHON, RUN_PY, compose_cfg, run_overrides, subprocess_env, text_rows

RESULT_KEYS = {
    "top1",
    "top5",
    "average",
    "num_videos",
    "num_views",
    "skipped_videos",
    "arch",
    "depth",
    "dataset",
    "frames",
    "share_weights",
}


def _train(data_dir, out: Path, *overrides):
    cfg = compose_cfg(run_overrides(data_dir, out, f"paths.output_dir={out}", *overrides))
    return train(cfg)


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["c2d", "c3d", "cost_a", "cost_b"])
def test_fast_dev_run_every_arch(data_dir, tmp_path, arch):
    share = "false" if arch == "cost_a" else "true"  # also covers CoST without sharing
    rec = _train(data_dir, tmp_path, f"model={arch}", f"model.share_weights={share}", "debug=fast")
    assert set(rec) >= RESULT_KEYS and rec["arch"] == arch and rec["frames"] == 8
    saved = json.loads((tmp_path / "results.json").read_text())
    assert {k: saved[k] for k in RESULT_KEYS} == {k: rec[k] for k in RESULT_KEYS}
    # fast_dev_run: one test batch, the first test_batch_size (8) videos of the split, 10 clips each
    assert saved["num_videos"] == 8 and saved["views_per_video"] == 10 and saved["num_views"] == 80
    assert saved["share_weights"] is (share == "true") and saved["dataset"] == "synthetic"
    assert 0 <= saved["top1"] <= saved["top5"] <= 100
    assert saved["average"] == pytest.approx((saved["top1"] + saved["top5"]) / 2, abs=1e-4)
    has_cost = arch.startswith("cost")
    assert (tmp_path / "coefficients.csv").exists() == has_cost  # absent, not an error, for C2D/C3D
    # CoST(a)'s coefficients are the same for every clip: no class files (test_coefficient_meaning.py)
    assert (tmp_path / "class_coefficients.csv").exists() == (arch == "cost_b")
    assert (tmp_path / "class_layer_coefficients.csv").exists() == (arch == "cost_b")
    if arch == "cost_b":
        names = (data_dir / "synthetic" / "classes.txt").read_text().split()
        _check_coefficient_files(tmp_path, _test_labels(data_dir)[:8], names)


@pytest.mark.slow
def test_fast_dev_run_bf16_mixed_and_authors_recipe(data_dir, tmp_path):
    rec = _train(data_dir, tmp_path, "trainer.precision=bf16-mixed", "optim=authors", "debug=fast")
    assert rec["arch"] == "cost_b" and rec["num_videos"] == 8 and 0 <= rec["top1"] <= rec["top5"] <= 100
    names = (data_dir / "synthetic" / "classes.txt").read_text().split()
    # bf16 softmax coefficients: each of the three rounds by up to 2**-9
    _check_coefficient_files(tmp_path, _test_labels(data_dir)[:8], names, sum_tol=3 * 2**-9)


@pytest.fixture(scope="module")
def trained(data_dir, tmp_path_factory):
    """One real short training of the default model (CoST(b), tiny) with W&B offline + CSV."""
    out = tmp_path_factory.mktemp("trained")
    t0 = time.time()
    rec = _train(
        data_dir,
        out,
        "trainer.max_steps=160",
        "trainer.val_check_interval=80",
        "callbacks.checkpoint_every_n_steps=80",
        "logger=wandb",
        "data.test_clips=3",
    )
    return out, rec, time.time() - t0


def _num_classes(data_dir: Path) -> int:
    return len((data_dir / "synthetic" / "classes.txt").read_text().split())


def _num_test(data_dir: Path) -> int:
    return len([x for x in (data_dir / "synthetic" / "test.txt").read_text().splitlines() if x.strip()])


def _test_labels(data_dir: Path, split: str = "test.txt") -> list[int]:
    lines = (data_dir / "synthetic" / split).read_text().splitlines()
    return [int(x.rsplit(" ", 1)[1]) for x in lines if x.strip()]


def _check_coefficient_files(
    out: Path, labels: list[int], class_names: list[str], layers: int = 4, sum_tol: float = 1e-5
) -> None:
    """Values, not only files: every layer's views sum to one, and class_coefficients.csv holds the
    per-class means of the evaluated videos (``labels``): their video-weighted mean over classes
    is coefficients.csv's mean over layers, view by view (a swapped column breaks it)."""
    rows = read_csv(out / "coefficients.csv")
    assert [(int(r["layer"]), r["view"]) for r in rows] == [
        (i, v) for i in range(1, layers + 1) for v in ("hw", "tw", "th")
    ]
    for i in range(1, layers + 1):
        assert sum(float(r["mean"]) for r in rows if int(r["layer"]) == i) == pytest.approx(1.0, abs=sum_tol)
    classes = read_csv(out / "class_coefficients.csv")
    counts = {c: labels.count(c) for c in sorted(set(labels))}
    assert [r["class"] for r in classes] == [class_names[c] for c in counts]  # classes with videos, in order
    for view in ("hw", "tw", "th"):
        over_layers = sum(float(r["mean"]) for r in rows if r["view"] == view) / layers
        weighted = sum(n * float(r[view]) for n, r in zip(counts.values(), classes)) / len(labels)
        assert weighted == pytest.approx(over_layers, abs=1e-5), view
    for r in classes:
        assert float(r["temporal"]) == pytest.approx(float(r["tw"]) + float(r["th"]), abs=2e-6)
    # class_layer_coefficients.csv: per class and layer; its mean over layers is the class's row above
    per_layer = read_csv(out / "class_layer_coefficients.csv")
    assert [(r["class"], r["layer"]) for r in per_layer] == [
        (r["class"], i) for r in classes for i in range(1, layers + 1)
    ]
    for r in classes:
        mine = [x for x in per_layer if x["class"] == r["class"]]
        for view in ("hw", "tw", "th", "temporal"):
            assert sum(x[view] for x in mine) / layers == pytest.approx(r[view], abs=2e-6), (r["class"], view)
        for x in mine:  # the mean largest coefficient lies between uniform and one view; a magnitude > 0
            assert 1 / 3 - 1e-6 <= x["sharpness"] <= 1 and x["sharpness"] >= max(x["hw"], x["tw"], x["th"]) - 1e-6
            assert x["magnitude"] > 0
    assert (out / "figures" / "class_layer_temporal.png").stat().st_size > 0


@pytest.mark.slow
def test_real_training_beats_chance(trained, data_dir):
    out, rec, seconds = trained
    chance = 100 / _num_classes(data_dir)
    assert rec["global_step"] == 160
    assert rec["top1"] > 4 * chance, rec  # a wide margin over chance
    assert rec["val_top1"] > 4 * chance, rec
    n = _num_test(data_dir)
    assert rec["num_videos"] == n and rec["views_per_video"] == 3 and rec["num_views"] == 3 * n
    assert (out / "checkpoints" / "last.ckpt").is_file() and (out / "checkpoints" / "best.ckpt").is_file()


@pytest.mark.slow
def test_output_files_match_the_schema(trained, data_dir):
    out, rec, _ = trained
    saved = json.loads((out / "results.json").read_text())
    assert set(saved) >= RESULT_KEYS
    assert saved["dataset"] == "synthetic" and saved["depth"] == "tiny" and saved["share_weights"] is True
    assert math.isclose(saved["average"], (saved["top1"] + saved["top5"]) / 2, abs_tol=1e-3)
    assert saved["skipped_videos"] == []

    layers = read_csv(out / "coefficients.csv")
    assert list(layers[0]) == LAYER_COLUMNS and len(layers) == 4 * 3  # tiny: 4 CoST layers x 3 views
    for layer in {r["layer"] for r in layers}:
        total = sum(float(r["mean"]) for r in layers if r["layer"] == layer)
        assert total == pytest.approx(1.0, abs=1e-4)  # softmax over the views
    assert {r["stage"] for r in layers} == {2, 3, 4, 5}

    classes = read_csv(out / "class_coefficients.csv")
    assert list(classes[0]) == CLASS_COLUMNS and len(classes) == _num_classes(data_dir)
    _check_coefficient_files(out, _test_labels(data_dir), (data_dir / "synthetic" / "classes.txt").read_text().split())

    curves = read_csv(out / "coefficient_curves.csv")
    assert list(curves[0]) == CURVE_COLUMNS
    assert sorted({int(r["step"]) for r in curves}) == [80, 160] and len(curves) == 2 * 12
    figures = sorted(p.name for p in (out / "figures").glob("*.png"))
    assert figures == [
        "class_layer_temporal.png",
        "class_temporal_importance.png",
        "coefficients_per_layer.png",
        "confusion.png",
    ]

    metrics = text_rows(out / "csv" / "metrics.csv")
    cols = set(metrics[0])
    assert {
        "train/loss",
        "val/top1",
        "val/top5",
        "val/average",
        "lr",
        "val/coef/layer1/hw",
        "val/coef/layer4/th",
        "test/coef/mean/hw",
        "test/top1",
    } <= cols
    test_row = [r for r in metrics if r.get("test/top1")][-1]  # the logged values are the saved ones
    for key in ("top1", "top5", "average"):
        assert float(test_row[f"test/{key}"]) == pytest.approx(saved[key], abs=1e-3), key
    coef_row = [r for r in metrics if r.get("test/coef/layer1/hw")][-1]
    for r in layers:
        assert float(coef_row[f"test/coef/layer{r['layer']}/{r['view']}"]) == pytest.approx(float(r["mean"]), abs=1e-5)
    # each validation's curve rows are coefficients (views of a layer sum to one)
    for step in (80, 160):
        for layer in range(1, 5):
            total = sum(float(r["mean"]) for r in curves if int(r["step"]) == step and int(r["layer"]) == layer)
            assert total == pytest.approx(1.0, abs=1e-5)


@pytest.mark.slow
def test_wandb_offline_run_holds_the_metrics(trained):
    """The offline W&B run, read back record by record, holds the numbers of the run's files."""
    out, _, _ = trained
    runs = list((out / "wandb").glob("offline-run-*"))
    assert len(runs) == 1, runs
    assert runs[0].name.endswith((out / "wandb_id.txt").read_text().strip())
    saved = json.loads((out / "results.json").read_text())
    metrics = text_rows(out / "csv" / "metrics.csv")

    val = [r for r in history(runs[0], prefix="val/") if "val/top1" in r]
    csv_val = [r for r in metrics if r.get("val/top1")]
    assert len(val) == 2 and [r["trainer/global_step"] for r in val] == [int(r["step"]) for r in csv_val]
    for key in ("top1", "top5", "average"):
        assert [r[f"val/{key}"] for r in val] == pytest.approx([float(r[f"val/{key}"]) for r in csv_val], abs=1e-5)
    assert val[-1]["val/top1"] == pytest.approx(saved["val_top1"], abs=1e-4)  # the last validation
    assert val[-1]["val/top5"] == pytest.approx(saved["val_top5"], abs=1e-4)

    test = [r for r in history(runs[0], prefix="test/") if "test/top1" in r]
    assert len(test) == 1
    for key in ("top1", "top5", "average"):
        assert test[0][f"test/{key}"] == pytest.approx(saved[key], abs=1e-4), key

    # coefficients: every validation's per-layer views = coefficient_curves.csv, the test's = coefficients.csv
    curves = read_csv(out / "coefficient_curves.csv")
    val_coef = history(runs[0], prefix="val/coef/layer")
    assert [r["trainer/global_step"] for r in val_coef] == sorted({int(r["step"]) for r in curves}) and len(
        val_coef
    ) == 2
    for r in curves:
        logged = next(v for v in val_coef if v["trainer/global_step"] == int(r["step"]))
        assert logged[f"val/coef/layer{r['layer']}/{r['view']}"] == pytest.approx(float(r["mean"]), abs=1e-6)
    test_coef = [r for r in history(runs[0], prefix="test/coef/") if "test/coef/layer1/hw" in r]
    assert len(test_coef) == 1  # (the coefficient tables and figures are rows of their own)
    logged = test_coef[0]
    layers = read_csv(out / "coefficients.csv")
    for r in layers:
        assert logged[f"test/coef/layer{r['layer']}/{r['view']}"] == pytest.approx(float(r["mean"]), abs=1e-6)
    for view in ("hw", "tw", "th"):
        mean = sum(float(r["mean"]) for r in layers if r["view"] == view) / 4
        assert logged[f"test/coef/mean/{view}"] == pytest.approx(mean, abs=1e-5), view

    # the training loss, step by step, as the CSV logger got it
    loss = {r["trainer/global_step"]: r["train/loss"] for r in history(runs[0], prefix="train/loss")}
    csv_loss = {int(r["step"]): float(r["train/loss"]) for r in metrics if r.get("train/loss")}
    assert csv_loss and loss.keys() == csv_loss.keys()
    assert [loss[k] for k in sorted(loss)] == pytest.approx([csv_loss[k] for k in sorted(csv_loss)], rel=1e-5)

    records = list(offline_records(runs[0]))
    config = {
        item.key: json.loads(item.value_json)  # the run's config as logged (its last update wins)
        for r in records
        if r.WhichOneof("record_type") == "config"
        for item in r.config.update
    }
    assert config["model"]["share_weights"] is True and config["model"]["arch"] == "cost_b"
    data = b"".join(p.read_bytes() for p in runs[0].glob("*.wandb"))
    assert b"coef/layers" in data  # the coefficient table (a W&B table object)


def _odd_test_split(data_dir: Path, n: int = 15) -> str:
    root = data_dir / "synthetic"
    lines = (root / "test.txt").read_text().splitlines()[:n]
    name = f"odd_test_{n}.txt"
    (root / name).write_text("\n".join(lines) + "\n")
    return name


def _eval(data_dir, out, ckpt, *extra, timeout=300):
    split = _odd_test_split(data_dir)
    cmd = [
        PYTHON,
        str(EVAL_PY),
        f"ckpt_path={ckpt}",
        f"paths.data_dir={data_dir}",
        f"paths.log_dir={out}",
        f"hydra.run.dir={out}",
        "data.num_workers=0",
        "data.test_clips=3",
        f"data.test_split={split}",
        "data.test_batch_size=2",
        "callbacks.rich_progress=false",
        "logger=none",
        *extra,
    ]
    p = subprocess.run(cmd, capture_output=True, text=True, env=subprocess_env(), timeout=timeout)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    return json.loads((out / "results.json").read_text()), read_csv(out / "coefficients.csv")


def _independent_numbers(data_dir: Path, ckpt: Path, split: str) -> tuple[dict, list[list[float]]]:
    """top-1/top-5/average and per-layer view means of a checkpoint on a split, computed here with
    plain torch (softmax, ranks, means) on the data module's batches: no project metric or
    coefficient code."""
    from hydra.utils import instantiate

    from cost.models import cost_layers
    from cost.predict import load_classifier

    cfg = compose_cfg(
        [
            f"paths.data_dir={data_dir}",
            "paths.output_dir=/unused",
            "data.num_workers=0",
            "data.test_clips=3",
            f"data.test_split={split}",
            "data.test_batch_size=2",
        ]
    )
    dm = instantiate(cfg.data)
    dm.setup("test")
    net, *_ = load_classifier(ckpt)
    layers = cost_layers(net)
    hits1 = hits5 = 0
    coef_sum = [[0.0, 0.0, 0.0] for _ in layers]
    videos = 0
    with torch.no_grad():
        for batch in dm.test_dataloader():
            for clips, label in zip(batch["clips"], batch["label"].tolist()):  # one video: V x 3 x T x H x W
                scores = torch.softmax(net(clips).double(), dim=1).mean(0).tolist()
                rank = 1 + sum(x > scores[label] for x in scores)
                hits1, hits5, videos = hits1 + (rank == 1), hits5 + (rank <= 5), videos + 1
                for i, layer in enumerate(layers):
                    per_view = layer.coefficients.double().mean(dim=(0, 1)).tolist()  # channels and views
                    coef_sum[i] = [a + b for a, b in zip(coef_sum[i], per_view)]
    top1, top5 = 100 * hits1 / videos, 100 * hits5 / videos
    return (
        {"num_videos": videos, "top1": top1, "top5": top5, "average": (top1 + top5) / 2},
        [[x / videos for x in c] for c in coef_sum],
    )


@pytest.mark.slow
def test_ddp_two_processes_give_exactly_the_single_process_numbers(trained, data_dir, tmp_path):
    out, _, _ = trained
    ckpt = out / "checkpoints" / "best.ckpt"
    one, coef1 = _eval(data_dir, tmp_path / "one", ckpt, "trainer=cpu")
    two, coef2 = _eval(
        data_dir, tmp_path / "two", ckpt, "trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2"
    )  # gloo on CPU
    assert one["num_videos"] == two["num_videos"] == 15  # odd: one rank gets 8, the other 7
    assert one["num_views"] == two["num_views"] == 45
    for key in ("top1", "top5", "average"):
        assert one[key] == two[key], (key, one, two)
    for a, b in zip(coef1, coef2):
        assert (a["layer"], a["view"]) == (b["layer"], b["view"])
        assert float(a["mean"]) == pytest.approx(float(b["mean"]), abs=1e-5)
    # ... and both are the right numbers, computed here without the project's metric code
    want, want_coef = _independent_numbers(data_dir, ckpt, _odd_test_split(data_dir))
    assert want["num_videos"] == 15
    for key in ("top1", "top5", "average"):
        assert one[key] == pytest.approx(want[key], abs=1e-3), (key, one, want)
    assert [float(r["mean"]) for r in coef1] == pytest.approx([m for layer in want_coef for m in layer], abs=1e-5)


@pytest.mark.slow
def test_resume_after_kill_finishes_with_the_scheduled_lr(data_dir, tmp_path):
    """Kill a run after its first last.ckpt; the same command resumes and ends at max_steps."""
    args = [
        PYTHON,
        str(RUN_PY),
        f"paths.data_dir={data_dir}",
        f"paths.log_dir={tmp_path}",
        "name=resume_me",
        "data.num_workers=0",
        "trainer.accelerator=cpu",
        "callbacks.rich_progress=false",
        "logger=wandb",
        "print_tables=false",
        "trainer.max_steps=30",
        "trainer.val_check_interval=10",
        "callbacks.checkpoint_every_n_steps=4",
        "optim.warmup_steps=0",
        "optim.lr=0.1",
        "data.test_clips=1",
        "trainer.limit_val_batches=1",
    ]
    run_dir = tmp_path / "runs" / "resume_me"
    last = run_dir / "checkpoints" / "last.ckpt"
    proc = subprocess.Popen(
        args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=subprocess_env(), start_new_session=True
    )
    try:
        deadline = time.time() + 240
        while not last.exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # let the checkpoint file be complete
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert last.exists(), proc.stderr.read().decode()[-3000:]
    killed_at = torch.load(last, map_location="cpu", weights_only=False)["global_step"]
    assert killed_at < 30, "the first run was not interrupted"
    assert not (run_dir / "results.json").exists()

    p = subprocess.run(args, capture_output=True, text=True, env=subprocess_env(), timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "resuming run 'resume_me'" in p.stdout + p.stderr
    rec = json.loads((run_dir / "results.json").read_text())
    assert rec["global_step"] == 30
    state = torch.load(last, map_location="cpu", weights_only=False)
    assert state["global_step"] == 30
    # Milestones 0.5 and 0.75 of 30 steps: lr 0.1 -> 0.01 (step 15) -> 0.001 (step 22/23).
    assert state["optimizer_states"][0]["param_groups"][0]["lr"] == pytest.approx(0.001)
    assert state["lr_schedulers"][0]["last_epoch"] == 30
    # The CSV log continues (resumed steps, no restart from 0 after the resume point).
    steps = [int(r["step"]) for r in text_rows(run_dir / "csv" / "metrics.csv") if r.get("lr")]
    assert max(steps) >= 25
    # Both W&B (offline) runs carry the same run id: a sync continues one W&B run.
    run_id = (run_dir / "wandb_id.txt").read_text().strip()
    runs = sorted((run_dir / "wandb").glob("offline-run-*"))
    assert len(runs) == 2 and all(r.name.endswith(run_id) for r in runs)


@pytest.mark.slow
def test_32_frame_finetune_run_from_the_8_frame_checkpoint(trained, data_dir, tmp_path):
    out, _, _ = trained
    rec = _train(
        data_dir, tmp_path, "frames=32", f"frames.init_checkpoint={out / 'checkpoints' / 'best.ckpt'}", "debug=fast"
    )
    assert rec["frames"] == 32 and rec["num_videos"] > 0


@pytest.mark.slow
def test_32_frame_run_finds_its_8_frame_run_by_itself(trained, data_dir, tmp_path):
    """frames=32 with the default init_checkpoint=auto: the 8-frame run of the same name."""
    from cost.training.restore import init_checkpoint

    out, _, _ = trained
    logs = tmp_path / "logs"
    cfg = compose_cfg(run_overrides(data_dir, logs, "frames=32"))
    assert cfg.frames.init_checkpoint == "auto" and cfg.frames.init_run == "cost_b_rtiny_synthetic_f8"
    with pytest.raises(FileNotFoundError, match="frames.init_checkpoint=auto.*frames=8"):
        init_checkpoint(cfg)
    ckpts = logs / "runs" / "cost_b_rtiny_synthetic_f8" / "checkpoints"
    ckpts.mkdir(parents=True)
    shutil.copy(out / "checkpoints" / "last.ckpt", ckpts / "last.ckpt")
    with pytest.raises(ValueError, match="8-frame run .* has not finished .*results.json"):
        init_checkpoint(cfg)  # checkpoints but no results.json: a preempted run is never fine-tuned
    record = json.loads((out / "results.json").read_text())
    shutil.copy(out / "config.yaml", ckpts.parent / "config.yaml")
    steps = record["global_step"]
    (ckpts.parent / "results.json").write_text(json.dumps(dict(record, global_step=steps - 1)))
    with pytest.raises(ValueError, match=f"training stopped at step {steps - 1} of {steps}"):
        init_checkpoint(cfg)
    (ckpts.parent / "results.json").write_text(json.dumps(record))
    assert init_checkpoint(cfg) == str(ckpts / "last.ckpt")
    shutil.copy(out / "checkpoints" / "best.ckpt", ckpts / "best.ckpt")
    assert init_checkpoint(cfg) == str(ckpts / "best.ckpt")
    rec = _train(data_dir, logs, "frames=32", "debug=fast")
    assert rec["frames"] == 32


@pytest.mark.slow
def test_ddp_training_run_two_processes(data_dir, tmp_path):
    """run.py itself under 2-process DDP (gloo): trains, validates, tests, writes the outputs."""
    args = [
        PYTHON,
        str(RUN_PY),
        f"paths.data_dir={data_dir}",
        f"paths.log_dir={tmp_path}",
        "name=ddp_run",
        "trainer=ddp",
        "trainer.accelerator=cpu",
        "trainer.devices=2",
        "logger=csv",
        "trainer.max_steps=4",
        "trainer.val_check_interval=2",
        "trainer.limit_val_batches=2",
        "callbacks.checkpoint_every_n_steps=2",
        "data.num_workers=0",
        "callbacks.rich_progress=false",
        "print_tables=false",
        "data.test_clips=2",
        "trainer.limit_test_batches=null",
    ]
    p = subprocess.run(args, capture_output=True, text=True, env=subprocess_env(), timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    run_dir = tmp_path / "runs" / "ddp_run"
    rec = json.loads((run_dir / "results.json").read_text())
    n = _num_test(data_dir)
    assert rec["global_step"] == 4 and rec["num_videos"] == n and rec["num_views"] == 2 * n
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert sorted({int(r["step"]) for r in read_csv(run_dir / "coefficient_curves.csv")}) == [2, 4]


@pytest.mark.slow
def test_predict_one_video(trained, data_dir):
    """src/predict.py: top-5 with names and this video's per-layer view coefficients."""
    from cost.predict import load_classifier, predict

    out, _, _ = trained
    ckpt = out / "checkpoints" / "best.ckpt"
    root = data_dir / "synthetic"
    names = (root / "classes.txt").read_text().split()
    line = (root / "test.txt").read_text().splitlines()[0]
    video = root / line.rsplit(" ", 1)[0]

    net, ckpt_names, _, _ = load_classifier(ckpt)
    assert ckpt_names == names  # class names travel in the checkpoint
    probs, coefficients, layers = predict(net, video, frames=8, stride=4, clips=3, short_side=48)
    assert probs.shape == (len(names),) and probs.sum().item() == pytest.approx(1.0, abs=1e-5)
    assert coefficients.shape == (len(layers), 3) == (4, 3)
    assert torch.allclose(coefficients.sum(1), torch.ones(4), atol=1e-5)

    p = subprocess.run(
        [
            PYTHON,
            str(RUN_PY.parent / "predict.py"),
            str(ckpt),
            str(video),
            "--stride",
            "4",
            "--short-side",
            "48",
            "--clips",
            "3",
        ],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=120,
    )
    assert p.returncode == 0, p.stderr[-2000:]
    top1_name = names[int(probs.argmax())]
    assert f"1. {top1_name}" in p.stdout and p.stdout.count(" res") == 4

    with pytest.raises(FileNotFoundError, match="checkpoint"):
        load_classifier(out / "nope.ckpt")
