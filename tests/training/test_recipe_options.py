"""The recipe options (conf/optim, conf/callbacks): label smoothing, mixup/CutMix, EMA weights,
early stopping and another optimiser, each off by default and doing what it says when on."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from cost.results import unfinished
from cost.training.module import VideoClassifier, mix_clips
from cost.training.runner import evaluate, train
from cost.training.schedules import recipe_file
from training_helpers import compose_cfg, run_overrides, text_rows

# training_step outside a Trainer: its self.log calls are skipped, with this warning
pytestmark = pytest.mark.filterwarnings("ignore:You are trying to `self.log\\(\\)`")

MODEL = {"_target_": "cost.models.build_model", "arch": "cost_b", "depth": "tiny", "dropout": 0.0}
CLASSES = 4


def _module(**optim) -> VideoClassifier:
    module = VideoClassifier(MODEL, {**recipe_file("paper"), **optim}, num_classes=CLASSES)
    return module.train()


def _batch(frames: int = 4, size: int = 32) -> dict:
    gen = torch.Generator().manual_seed(0)
    clips = torch.randn(4, 3, frames, size, size, generator=gen)
    return {"clips": clips, "label": torch.tensor([0, 1, 2, 3]), "index": torch.arange(4)}


# ---------------------------------------------------------------- off by default
def test_every_option_is_off_in_both_recipes():
    for name in ("paper", "authors"):
        o = recipe_file(name)
        assert (o["label_smoothing"], o["mixup_alpha"], o["cutmix_alpha"], o["ema_decay"]) == (0.0, 0.0, 0.0, None)
        assert o["optimizer"]["_target_"] == "torch.optim.SGD"
        assert o["scheduler"]["_target_"] == "torch.optim.lr_scheduler.MultiStepLR"
    cfg = compose_cfg(["paths.output_dir=x"])
    assert cfg.callbacks.early_stopping_patience is None


def test_the_start_line_names_the_classes_and_the_options_on():
    from cost.training.schedules import batch_recipe, describe_recipe

    plain = describe_recipe(batch_recipe(recipe_file("paper"), 8, 4, 1))
    assert plain == (
        "batch 8 per device x 4 device(s) x 1 accumulation = total batch 32; lr 0.005 "
        "(linear scaling from lr 0.005 at batch 32); SGD + MultiStepLR"
    )
    on = batch_recipe({**recipe_file("paper"), "label_smoothing": 0.1, "ema_decay": 0.999}, 8, 4, 1)
    assert describe_recipe(on).endswith("; SGD + MultiStepLR; label_smoothing 0.1, ema_decay 0.999")


def test_the_default_loss_is_plain_cross_entropy():
    module, batch = _module(), _batch()
    torch.manual_seed(0)
    loss = module.training_step(batch, 0)
    assert loss == F.cross_entropy(module.net(batch["clips"]), batch["label"])


# ---------------------------------------------------------------- label smoothing
def test_label_smoothing_gives_the_loss_its_formula_says():
    """loss = (1 - e) x CE(one-hot) + e x mean over classes of -log p (Szegedy et al. 2016)."""
    eps = 0.2
    plain, smooth, batch = _module(), _module(label_smoothing=eps), _batch()
    smooth.load_state_dict(plain.state_dict())
    loss = smooth.training_step(batch, 0)
    log_p = F.log_softmax(smooth.net(batch["clips"]), dim=1)
    nll = -log_p.gather(1, batch["label"][:, None]).squeeze(1)
    want = ((1 - eps) * nll + eps * -log_p.mean(dim=1)).mean()
    assert loss.item() == pytest.approx(want.item(), rel=1e-6)
    assert loss.item() != pytest.approx(plain.training_step(batch, 0).item(), rel=1e-3)


# ---------------------------------------------------------------- mixup / CutMix
def test_mixup_is_one_convex_mix_per_batch_over_every_frame():
    batch = _batch()
    torch.manual_seed(1)
    clips, target, lam = mix_clips(batch["clips"], batch["label"], CLASSES, mixup_alpha=0.4, cutmix_alpha=0.0)
    assert 0 < lam < 1
    other = batch["clips"].roll(1, dims=0)
    assert torch.allclose(clips, lam * batch["clips"] + (1 - lam) * other, atol=1e-6)
    assert torch.allclose(target.sum(1), torch.ones(4))
    own = target.gather(1, batch["label"][:, None]).squeeze(1)
    assert torch.allclose(own, torch.full((4,), lam)) and torch.allclose(target.max(1).values, own.clamp(min=1 - lam))


def test_cutmix_pastes_the_same_box_into_every_frame():
    batch = _batch(frames=6, size=40)
    torch.manual_seed(3)
    clips, target, lam = mix_clips(batch["clips"], batch["label"], CLASSES, mixup_alpha=0.0, cutmix_alpha=1.0)
    other = batch["clips"].roll(1, dims=0)
    pasted = (clips == other) & (clips != batch["clips"])  # random values: equal only where pasted
    kept = clips == batch["clips"]
    assert bool((pasted | kept).all())
    box = pasted[0, 0, 0]
    assert 0 < int(box.sum()) < 40 * 40
    assert bool((pasted == box).all())  # every clip, channel and frame: the same box
    rows, cols = box.any(1).nonzero().squeeze(1), box.any(0).nonzero().squeeze(1)
    assert int(box.sum()) == len(rows) * len(cols)  # a rectangle
    assert lam == pytest.approx(1 - len(rows) * len(cols) / (40 * 40))
    assert torch.allclose(target.gather(1, batch["label"][:, None]).squeeze(1), torch.full((4,), lam))


def test_mixup_in_training_is_the_mixed_cross_entropy():
    """With mixup the loss is lambda x CE(own label) + (1 - lambda) x CE(the rolled clip's label)."""
    module, batch = _module(mixup_alpha=0.4), _batch()
    torch.manual_seed(5)
    loss = module.training_step(batch, 0)
    torch.manual_seed(5)
    clips, _, lam = mix_clips(batch["clips"], batch["label"], CLASSES, 0.4, 0.0)
    logits = module.net(clips)
    want = lam * F.cross_entropy(logits, batch["label"]) + (1 - lam) * F.cross_entropy(
        logits, batch["label"].roll(1, dims=0)
    )
    assert loss.item() == pytest.approx(want.item(), rel=1e-5)
    assert loss.item() != pytest.approx(F.cross_entropy(module.net(batch["clips"]), batch["label"]).item(), rel=1e-3)


# ---------------------------------------------------------------- runs
def _split(data_dir: Path, n: int) -> str:
    root = data_dir / "synthetic"
    name = f"options_test{n}.txt"
    (root / name).write_text("\n".join((root / "test.txt").read_text().splitlines()[:n]) + "\n")
    return name


def _run(data_dir: Path, logs: Path, name: str, *extra: str) -> tuple[Path, dict]:
    out = logs / "runs" / name
    cfg = compose_cfg(
        run_overrides(
            data_dir,
            logs,
            f"paths.output_dir={out}",
            f"name={name}",
            "logger=csv",
            "trainer.limit_val_batches=1",
            "data.test_clips=1",
            f"data.test_split={_split(data_dir, 6)}",
            *extra,
        )
    )
    return out, train(cfg)


def _scores(path: Path) -> list[tuple]:
    return [(r["video"], r["class_1"], float(r["score_1"]), float(r["score_2"])) for r in text_rows(path)]


@pytest.mark.slow
def test_ema_weights_are_checkpointed_and_evaluated(data_dir, tmp_path):
    """AdamW, label smoothing, mixup and CutMix together, with an EMA of the weights: the
    checkpoint's weights are the EMA (the raw ones kept beside them for a resume), and the run's
    test equals an evaluation of the EMA copy, not of the raw weights."""
    out, rec = _run(
        data_dir,
        tmp_path,
        "ema",
        "optim/optimizer=adamw",
        "optim.lr=0.01",
        "optim.label_smoothing=0.1",
        "optim.mixup_alpha=0.4",
        "optim.cutmix_alpha=0.4",
        "optim.ema_decay=0.5",
        "trainer.max_steps=4",
        "trainer.val_check_interval=2",
        "callbacks.checkpoint_every_n_steps=2",
    )
    assert rec["global_step"] == 4 and Path(rec["checkpoint"]).name == "best.ckpt"
    assert rec["recipe"]["optimizer"] == "torch.optim.AdamW" and rec["recipe"]["ema_decay"] == 0.5
    options = {k: rec["recipe"][k] for k in ("label_smoothing", "mixup_alpha", "cutmix_alpha")}
    assert options == {"label_smoothing": 0.1, "mixup_alpha": 0.4, "cutmix_alpha": 0.4}
    last = torch.load(out / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert any(not torch.equal(v, last["current_model_state"][k]) for k, v in last["state_dict"].items())
    ckpt = torch.load(rec["checkpoint"], map_location="cpu", weights_only=True)
    states = ckpt["optimizer_states"][0]["state"]
    assert states and all("exp_avg" in s for s in states.values())  # AdamW trained it
    ema, raw = ckpt["state_dict"], ckpt["current_model_state"]
    assert ema.keys() == raw.keys() and int(ckpt["averaging_state"]["n_averaged"]) == ckpt["global_step"]
    differ = [k for k in ema if k.startswith("net.") and ema[k].is_floating_point() and not torch.equal(ema[k], raw[k])]
    assert any(k.endswith("running_mean") for k in differ) and any(k.endswith("conv1.weight") for k in differ)

    raw_ckpt = tmp_path / "raw.ckpt"
    plain = {k: v for k, v in ckpt.items() if k not in ("current_model_state", "averaging_state")}
    torch.save({**plain, "state_dict": raw}, raw_ckpt)
    results = {}
    for name, path in (("ema", rec["checkpoint"]), ("raw", raw_ckpt)):
        eval_dir = tmp_path / f"eval_{name}"
        evaluate(
            compose_cfg(
                [
                    f"paths.data_dir={data_dir}",
                    f"paths.output_dir={eval_dir}",
                    "data.num_workers=0",
                    "trainer.accelerator=cpu",
                    "logger=none",
                    "callbacks.rich_progress=false",
                    "print_tables=false",
                    f"ckpt_path={path}",
                    "data.test_clips=1",
                    f"data.test_split={_split(data_dir, 6)}",
                ],
                config_name="eval",
            )
        )
        results[name] = _scores(eval_dir / "predictions.csv")
    run = _scores(out / "predictions.csv")
    assert run == results["ema"]
    assert run != results["raw"]


@pytest.mark.slow
def test_early_stopping_stops_when_val_top1_does_not_improve(data_dir, tmp_path, caplog):
    """A vanishing lr and frozen BatchNorm keep val top-1 the same: with patience 1 the fit stops
    at the second validation (step 4 of 40), tests, and the run counts as finished; rerunning
    it re-tests without training on."""
    args = (
        "callbacks.early_stopping_patience=1",
        "optim.lr=1e-12",
        "frames.freeze_bn=true",
        "trainer.max_steps=40",
        "trainer.val_check_interval=2",
        "callbacks.checkpoint_every_n_steps=2",
        "trainer.log_every_n_steps=1",
    )
    with caplog.at_level(logging.INFO):
        out, rec = _run(data_dir, tmp_path, "stop", *args)
    assert rec["global_step"] == 4 and rec["recipe"]["stopped_early_at_step"] == 4
    assert "early stopping at step 4: val/top1 has not risen above" in caplog.text
    record = json.loads((out / "results.json").read_text())
    assert record["global_step"] == 4 and record["num_videos"] == 6
    assert unfinished(out) is None
    vals = [r for r in text_rows(out / "csv" / "metrics.csv") if r.get("val/top1")]
    # the validations after steps 2 and 4 (Lightning's CSV rows count from 0)
    assert [int(r["step"]) for r in vals] == [1, 3] and vals[0]["val/top1"] == vals[1]["val/top1"]

    _, again = _run(data_dir, tmp_path, "stop", *args)
    assert again["global_step"] == 4 and again["recipe"]["stopped_early_at_step"] == 4
    trained = [r for r in text_rows(out / "csv" / "metrics.csv") if r.get("train/loss")]
    assert sorted(int(r["step"]) for r in trained) == [0, 1, 2, 3]  # the rerun trained no step
    assert not list(out.glob("previous-*"))  # it resumed the run, not started over


def test_bad_recipe_options_are_listed_before_the_run_starts(data_dir, tmp_path):
    from cost.training.preflight import preflight

    cfg = compose_cfg(
        run_overrides(
            data_dir,
            tmp_path,
            "optim/optimizer=adamw",
            "+optim.optimizer.momentum=0.9",
            "optim.label_smoothing=1.0",
            "callbacks.early_stopping_patience=2",
            "callbacks.monitor=null",
        )
    )
    with pytest.raises(ValueError) as err:
        preflight(cfg, ("train", "val", "test"))
    lines = str(err.value).splitlines()
    assert lines[0] == "the run cannot start:"
    assert lines[1].strip().startswith("optim.optimizer.momentum is not an argument of AdamW (it takes amsgrad, betas")
    assert "optim.label_smoothing=1.0 must be in [0, 1)" in lines[2]
    assert "callbacks.early_stopping_patience needs callbacks.monitor (e.g. val/top1) to follow" in lines[3]
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_a_resumed_ema_run_continues_both_weights(data_dir, tmp_path):
    """Two steps, then the same run to four: the EMA is restored and keeps averaging (4 updates,
    not 2 from a fresh copy), and the raw weights it resumed from are the raw ones, not the EMA."""
    common = ("optim.ema_decay=0.5", "trainer.val_check_interval=2", "callbacks.checkpoint_every_n_steps=2")
    out, first = _run(data_dir, tmp_path, "ema_resume", "trainer.max_steps=2", *common)
    two = torch.load(out / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert first["global_step"] == 2 and int(two["averaging_state"]["n_averaged"]) == 2
    assert any(not torch.equal(v, two["current_model_state"][k]) for k, v in two["state_dict"].items())
    _, second = _run(data_dir, tmp_path, "ema_resume", "trainer.max_steps=4", *common)
    four = torch.load(out / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert second["global_step"] == 4 and int(four["averaging_state"]["n_averaged"]) == 4
    assert not list(out.glob("previous-*"))  # resumed, not started over
