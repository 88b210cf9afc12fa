"""The paper's recipe by default (issue 12): ImageNet init and lr scaling at paper scale, the
dataset's identity, experiments as sweeps, per-video and per-class results, W&B loggers from
_target_ configs, and console output fit for cluster log files."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from cost.analysis.tables import load_runs, results_table
from cost.analysis.wandb_history import history, offline_records
from cost.training.callbacks import build_loggers
from cost.training.coefficients import read_csv
from cost.training.report import print_summary
from cost.training.runner import train
from cost.training.schedules import batch_recipe
from training_helpers import PYTHON, RUN_PY, compose_cfg, run_overrides, subprocess_env, text_rows

PAPER_DATA = ("kinetics", "moments", "list", "folder")


# ---------------------------------------------------------------- 1. ImageNet initialisation
@pytest.mark.parametrize("data", PAPER_DATA)
def test_paper_scale_presets_start_from_imagenet(data):
    cfg = compose_cfg([f"data={data}", "paths.output_dir=x"])
    assert (cfg.model.pretrained, cfg.model.depth) == ("imagenet", 50)


def test_the_demo_trains_from_scratch_on_purpose():
    assert compose_cfg(["paths.output_dir=x"]).model.pretrained == "none"


def test_from_scratch_at_paper_scale_without_saying_so_is_refused(data_dir, tmp_path):
    cfg = compose_cfg(
        run_overrides(
            data_dir, tmp_path, f"paths.output_dir={tmp_path}", "model.depth=50", "model.pretrained=null", "debug=fast"
        )
    )
    with pytest.raises(ValueError, match="model.pretrained=none to train from scratch deliberately"):
        train(cfg)
    assert not (tmp_path / "results.json").exists()


# ---------------------------------------------------------------- 2. batch and learning rate
def test_eight_gpus_of_eight_clips_get_lr_001_with_the_paper_recipe():
    for data, optim in (("kinetics", "paper"), ("moments", "paper"), ("kinetics", "authors")):
        cfg = compose_cfg([f"data={data}", f"optim={optim}", "trainer=ddp", "paths.output_dir=x"])
        recipe = batch_recipe(cfg.optim, cfg.data.batch_size, cfg.trainer.devices, cfg.trainer.accumulate_grad_batches)
        assert (recipe["per_device_batch"], recipe["devices"], recipe["total_batch"]) == (8, 8, 64)
        assert recipe["lr"] == pytest.approx(0.01, rel=1e-12), (data, optim)
    paper = compose_cfg(["data=kinetics", "paths.output_dir=x"]).optim
    assert batch_recipe(paper, 8, 4, 1)["lr"] == pytest.approx(0.005)  # the paper's total batch 32
    assert batch_recipe(paper, 8, 4, 2)["lr"] == pytest.approx(0.01)  # accumulation counts too


# ---------------------------------------------------------------- one real run, many checks
@pytest.fixture(scope="module")
def run(data_dir, tmp_path_factory):
    """A short real training with W&B offline (+ CSV), stdout redirected (not a terminal)."""
    out = tmp_path_factory.mktemp("recipe_run")
    env = {"WANDB_PROJECT": "cost-env-project", "WANDB_TAGS": "tag-from-env"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    stdout = io.StringIO()
    try:
        cfg = compose_cfg(
            run_overrides(
                data_dir,
                out,
                f"paths.output_dir={out}",
                "trainer.max_steps=20",
                "trainer.val_check_interval=10",
                "callbacks.checkpoint_every_n_steps=10",
                "callbacks.progress_every_n_steps=5",
                "data.test_clips=2",
                "logger=wandb",
                "logger.wandb.group=ablation-x",
                "logger.wandb.log_model=true",
            )
        )
        with contextlib.redirect_stdout(stdout):
            record = train(cfg)
    finally:
        for k, v in saved.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    return SimpleNamespace(out=out, record=record, stdout=stdout.getvalue(), cfg=cfg)


def _wandb_dir(run) -> Path:
    dirs = list((run.out / "wandb").glob("offline-run-*"))
    assert len(dirs) == 1, dirs
    return dirs[0]


@pytest.mark.slow
def test_the_run_prints_and_records_its_batch_and_lr(run):
    recipe = run.record["recipe"]
    assert recipe == json.loads((run.out / "results.json").read_text())["recipe"]
    assert (recipe["per_device_batch"], recipe["devices"], recipe["accumulate_grad_batches"]) == (16, 1, 1)
    assert recipe["total_batch"] == 16 and recipe["lr"] == pytest.approx(run.cfg.optim.lr)
    assert "batch 16 per device x 1 device(s) x 1 accumulation = total batch 16; lr 0.05" in run.stdout
    config = b"".join(p.read_bytes() for p in _wandb_dir(run).glob("*.wandb"))
    assert b"recipe/total_batch" in config  # logged as hyper-parameters too


@pytest.mark.slow
def test_plain_progress_lines_when_stdout_is_not_a_terminal(run):
    lines = [line for line in run.stdout.splitlines() if line[20:].startswith("step ")]
    pattern = re.compile(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d step (\d+)/20 \| loss \d+\.\d{4} \| top-1 \d+\.\d% \| \d+\.\d clips/s "
        r"\| data wait \d+% \| lr \S+ \| ETA \d\d:\d\d:\d\d"
    )
    assert [int(pattern.fullmatch(line).group(1)) for line in lines] == [5, 10, 15, 20], lines
    assert "validation at step 10 | top-1" in run.stdout and "validation at step 20 | top-1" in run.stdout


@pytest.mark.slow
def test_model_summary_counts_the_flops_of_a_training_clip(run):
    from pytorch_lightning.utilities.model_summary.model_summary import get_human_readable_count

    from cost.models.factory import build_net
    from cost.models.summary import count_macs

    net = build_net({**run.cfg.model, "pretrained": None}, num_classes=16)
    flops = 2 * count_macs(net, run.cfg.data.num_frames, run.cfg.data.train_crop)
    assert "Total FLOPs: 0" not in run.stdout
    assert f"Total FLOPs: {get_human_readable_count(flops)}" in run.stdout


@pytest.mark.slow
def test_predictions_csv_holds_every_test_video_and_agrees_with_top1(run, data_dir):
    rows = text_rows(run.out / "predictions.csv")
    listed = dict(line.rsplit(" ", 1) for line in (data_dir / "synthetic" / "test.txt").read_text().split("\n") if line)
    assert len(rows) == run.record["num_videos"] == len(listed)
    assert list(rows[0]) == [
        "video",
        "label",
        *(f"class_{i}" for i in range(1, 6)),
        *(f"score_{i}" for i in range(1, 6)),
        "views",
        "label_name",
        *(f"name_{i}" for i in range(1, 6)),
    ]
    root = data_dir / "synthetic"
    assert {str(Path(r["video"]).relative_to(root)): r["label"] for r in rows} == listed
    for r in rows:
        scores = [float(r[f"score_{i}"]) for i in range(1, 6)]
        assert scores == sorted(scores, reverse=True) and scores[-1] >= 0 and scores[0] <= 1
        assert len({r[f"class_{i}"] for i in range(1, 6)}) == 5 and r["views"] == "2"
    top1 = 100 * sum(r["class_1"] == r["label"] for r in rows) / len(rows)
    top5 = 100 * sum(r["label"] in {r[f"class_{i}"] for i in range(1, 6)} for r in rows) / len(rows)
    assert (round(top1, 4), round(top5, 4)) == (run.record["top1"], run.record["top5"])


@pytest.mark.slow
def test_class_accuracy_csv_adds_up_to_the_overall_accuracy(run):
    rows = text_rows(run.out / "class_accuracy.csv")
    assert list(rows[0]) == ["class", "videos", "top1", "top5", "hw", "tw", "th", "temporal"]
    n = sum(int(r["videos"]) for r in rows)
    assert n == run.record["num_videos"] and len(rows) == 16
    for metric in ("top1", "top5"):
        weighted = sum(int(r["videos"]) * float(r[metric]) for r in rows) / n
        assert weighted == pytest.approx(run.record[metric], abs=1e-3)
    coefs = {r["class"]: r for r in text_rows(run.out / "class_coefficients.csv")}
    for r in rows:
        for view in ("hw", "tw", "th", "temporal"):
            assert r[view] == coefs[r["class"]][view]


@pytest.mark.slow
def test_compare_lists_the_classes_that_differ_most(run, tmp_path):
    """Run B: run A's class_accuracy.csv with one class 30 points better and one 20 worse."""
    rows = text_rows(run.out / "class_accuracy.csv")
    gained, lost = rows[3]["class"], rows[7]["class"]
    rows[3]["top1"] = str(float(rows[3]["top1"]) + 30)
    rows[7]["top1"] = str(float(rows[7]["top1"]) - 20)
    (tmp_path / "b").mkdir()
    with open(tmp_path / "b" / "class_accuracy.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    p = subprocess.run(
        [PYTHON, "-m", "cost.analysis", "compare", str(run.out), str(tmp_path / "b"), "--top", "3"],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=120,
    )
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    better = lines[lines.index("### B better than A (1 shown)") + 4]
    worse = lines[lines.index("### A better than B (1 shown)") + 4]
    assert better.startswith(f"| {gained} |") and better.endswith("| +30.0 |"), p.stdout
    assert worse.startswith(f"| {lost} |") and worse.endswith("| -20.0 |"), p.stdout


@pytest.mark.slow
def test_wandb_run_uses_config_options_and_wandb_environment(run):
    records = list(offline_records(_wandb_dir(run)))
    info = next(r.run for r in records if r.WhichOneof("record_type") == "run")
    assert info.project == "cost-env-project"  # WANDB_PROJECT applies (project defaults to it)
    assert info.run_group == "ablation-x"  # any WandbLogger / wandb.init option from the config
    assert list(info.tags) == ["tag-from-env"]  # tags: null leaves W&B's WANDB_TAGS in charge
    assert info.run_id == (run.out / "wandb_id.txt").read_text().strip()
    artifacts = [r.artifact for r in records if r.WhichOneof("record_type") == "artifact"]
    assert any(a.type == "model" for a in artifacts), [a.type for a in artifacts]  # log_model


@pytest.mark.slow
def test_wandb_coefficients_share_the_steps_of_the_csv_files(run):
    curve_steps = sorted({int(r["step"]) for r in read_csv(run.out / "coefficient_curves.csv")})
    assert curve_steps == [10, 20]
    val = history(_wandb_dir(run), prefix="val/coef/")
    assert [r["trainer/global_step"] for r in val] == curve_steps
    assert all(len([k for k in r if k.startswith("val/coef/layer")]) == 12 for r in val)  # 4 layers x 3 views
    test = history(_wandb_dir(run), prefix="test/coef/mean/")
    assert [r["trainer/global_step"] for r in test] == [20]
    last = {
        r["view"]: float(r["mean"])
        for r in read_csv(run.out / "coefficient_curves.csv")
        if r["step"] == 20 and r["layer"] == 1
    }
    assert {v: round(val[-1][f"val/coef/layer1/{v}"], 6) for v in last} == last  # the same numbers
    assert not history(_wandb_dir(run), prefix="coef/")  # no unprefixed keys mixing val and test
    tables = b"".join(p.read_bytes() for p in _wandb_dir(run).glob("*.wandb"))
    assert b"test/predictions" in tables and b"test/class_accuracy" in tables


def test_unknown_wandb_key_is_an_error(tmp_path):
    cfg = compose_cfg([f"paths.output_dir={tmp_path}", "logger=wandb", "+logger.wandb.projcet=typo"])
    with pytest.raises(ValueError, match="logger.wandb.projcet is not an option of WandbLogger or wandb.init"):
        build_loggers(cfg, tmp_path, "x")


# ---------------------------------------------------------------- 3. dataset identity
@pytest.mark.slow
def test_a_list_run_named_kinetics_lines_up_with_table_5(data_dir, tmp_path):
    out = tmp_path / "run"
    root = data_dir / "synthetic"
    cfg = compose_cfg(
        run_overrides(
            data_dir,
            tmp_path,
            f"paths.output_dir={out}",
            "data=list",
            "data.name=kinetics",
            f"data.root={root}",
            "data.test_split=test.txt",
            "model=cost_b",
            "model.pretrained=none",
            "trainer=cpu",
            "trainer.fast_dev_run=true",
            "logger=none",
            "print_tables=false",
            "data.batch_size=2",
            "data.test_batch_size=1",
            "data.test_clips=1",
            "data.train_short_side=[32,40]",
            "data.train_crop=32",
            "data.val_short_side=32",
            "data.val_crop=32",
            "data.test_short_side=32",
        )
    )
    assert cfg.name == "cost_b_r50_kinetics_f8"
    record = train(cfg)
    assert (record["dataset"], record["data_format"]) == ("kinetics", "list")
    rows = results_table(load_runs([out]), table="5")
    ours = {r["model"]: r["runs"] for r in rows}
    assert ours == {
        "R50 C2D 8f": 0,
        "R50 C3D 8f": 0,
        "R50 CoST(b) 8f": 1,
        "R101 C2D 8f": 0,
        "R101 C3D 8f": 0,
        "R101 CoST(b) 8f": 0,
    }


# ---------------------------------------------------------------- 4. experiments are sweeps
def test_an_experiment_sweep_without_m_stops_with_one_line(tmp_path):
    p = subprocess.run(
        [PYTHON, str(RUN_PY), "experiment=table2", f"paths.log_dir={tmp_path}"],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=300,
    )
    assert p.returncode == 1
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert "python experiments/sweep.py experiment=table2" in lines[0]
    assert "python src/run.py -m experiment=table2" in lines[0]
    written = {f.name for f in tmp_path.rglob("*") if f.is_file()}
    assert not written & {"results.json", "last.ckpt", "metrics.csv"}, written  # nothing ran


# ---------------------------------------------------------------- 7. console output
def test_console_class_table_shows_the_ends_of_a_long_ranking(tmp_path, capsys):
    names = [f"class{i:02d}" for i in range(40)]
    class_rows = [
        {"class": n, "hw": 0.5, "tw": 0.25 - i / 400, "th": 0.25, "temporal": 0.5 - i / 400}
        for i, n in enumerate(names)
    ]
    coef_rows = [{"layer": 1, "stage": 2, "unit": 0, "view": v, "mean": 1 / 3} for v in ("hw", "tw", "th")]
    module = SimpleNamespace(class_names=names, test_results={"coef_rows": coef_rows, "class_rows": class_rows})
    record = {
        "arch": "cost_b",
        "depth": 50,
        "dataset": "kinetics",
        "frames": 8,
        "top1": 1.0,
        "top5": 2.0,
        "average": 1.5,
        "num_videos": 40,
        "views_per_video": 10,
        "skipped_videos": [],
    }
    print_summary(tmp_path, record, module)
    text = capsys.readouterr().out
    shown = [n for n in names if n in text]
    assert shown == names[:10] + names[-10:]


def test_step_based_runs_show_no_minus_two_epoch_counter():
    import pytorch_lightning as pl

    from cost.training.progress import StepRichProgressBar

    bar = StepRichProgressBar()
    trainer = pl.Trainer(max_steps=300, max_epochs=-1, callbacks=[bar], logger=False, accelerator="cpu")
    bar.setup(trainer, None, "fit")
    assert bar._get_train_description(9).strip() == "Epoch 9"
    epochs = pl.Trainer(max_epochs=5, callbacks=[StepRichProgressBar()], logger=False, accelerator="cpu")
    bar.setup(epochs, None, "fit")
    assert bar._get_train_description(2).strip() == "Epoch 2/4"
