"""Recipes: step decay at the paper's iterations, warm-up, lr scaling, no-decay groups, the
optimiser and scheduler as _target_ configs built from torch's classes."""

import re

import pytest
import torch

from cost.models import build_model
from cost.training.schedules import (
    batch_recipe,
    build_optimizer,
    check_recipe,
    effective_lr,
    milestone_steps,
    parameter_groups,
    recipe_file,
)
from training_helpers import recipe_lr


def paper(**changes) -> dict:
    """conf/optim/paper.yaml as composed (the one place of the recipe's values) with ``changes``."""
    return {**recipe_file("paper"), **changes}


def test_paper_milestones_are_300k_and_450k_of_600k():
    assert milestone_steps([0.5, 0.75], 600_000) == [300_000, 450_000]
    assert milestone_steps([300_000, 450_000], 10) == [300_000, 450_000]


def test_linear_scaling():
    cfg = paper(lr=0.005, base_batch_size=32, scale_lr=True)
    assert effective_lr(cfg, 256) == pytest.approx(0.04)
    assert effective_lr({**cfg, "scale_lr": False}, 256) == pytest.approx(0.005)


def test_scheduler_steps_per_iteration():
    net = torch.nn.Linear(2, 2)
    opt = build_optimizer(net, paper(lr=1.0, scale_lr=False), 32, 8)
    sched = opt["lr_scheduler"]["scheduler"]
    assert opt["lr_scheduler"]["interval"] == "step"
    assert type(opt["optimizer"]) is torch.optim.SGD and type(sched) is torch.optim.lr_scheduler.MultiStepLR
    lrs = []
    for _ in range(8):
        lrs.append(opt["optimizer"].param_groups[0]["lr"])
        opt["optimizer"].step()
        sched.step()
    assert lrs == pytest.approx([1, 1, 1, 1, 0.1, 0.1, 0.01, 0.01])


def test_warmup_longer_than_a_milestone_still_decays():
    """LinearLR chained to MultiStepLR: the factors multiply, as the recipe's formula says (the
    kill-and-resume test in test_state.py trains with this: 20 warm-up steps, milestones 12, 18)."""
    lrs = [g[0] for g in _lrs_every_step(paper(lr=0.1, scale_lr=False, warmup_steps=20), 32, 24)]
    assert lrs == pytest.approx([recipe_lr(s, 0.1, [12, 18], 20, 0.1) for s in range(24)], rel=1e-12, abs=0)
    assert lrs[0] == pytest.approx(0.01) and lrs[12] == pytest.approx(0.1 * 0.1 * (0.1 + 0.9 * 12 / 20))


def test_cosine_scheduler_spans_the_run_after_the_warmup():
    """optim/scheduler=cosine: T_max null is the run's steps; chained with the warm-up."""
    import math

    from training_helpers import compose_cfg

    optim = compose_cfg(["optim/scheduler=cosine", "optim.warmup_steps=5", "paths.output_dir=x"]).optim
    lrs = [g[0] for g in _lrs_every_step(optim, 16, 30)]
    base = 0.05  # the synthetic preset: lr 0.05 at batch 16
    warm = [0.1 + 0.9 * s / 5 if s < 5 else 1.0 for s in range(30)]
    want = [base * w * (1 + math.cos(math.pi * s / 30)) / 2 for s, w in enumerate(warm)]
    assert lrs == pytest.approx(want, rel=1e-9, abs=1e-15)


def test_an_adamw_target_builds_adamw_over_the_same_groups():
    net = build_model("cost_b", "tiny", num_classes=4)
    sgd = build_optimizer(net, paper(no_decay_bn=True, no_decay_coef=True), 32, 10)["optimizer"]
    adamw_cfg = paper(no_decay_bn=True, no_decay_coef=True, optimizer=recipe_optimizer("adamw"))
    adamw = build_optimizer(net, adamw_cfg, 32, 10)["optimizer"]
    assert type(adamw) is torch.optim.AdamW and type(sgd) is torch.optim.SGD
    assert len(adamw.param_groups) == len(sgd.param_groups) == 2
    for a, s in zip(adamw.param_groups, sgd.param_groups, strict=True):
        assert [id(p) for p in a["params"]] == [id(p) for p in s["params"]]
        assert (a["weight_decay"], a["lr"]) == (s["weight_decay"], s["lr"])
    assert tuple(adamw.param_groups[0]["betas"]) == (0.9, 0.999)


def recipe_optimizer(name: str) -> dict:
    from training_helpers import compose_cfg

    return dict(compose_cfg([f"optim/optimizer={name}", "paths.output_dir=x"]).optim.optimizer)


@pytest.mark.parametrize(
    "changes,message",
    [
        (
            {"optimizer": {"_target_": "torch.optim.AdamW", "momentum": 0.9}},
            "optim.optimizer.momentum is not an argument of AdamW",
        ),
        ({"optimizer": {"_target_": "torch.optim.SGD", "lr": 0.1}}, "optim.optimizer.lr is set by the recipe"),
        ({"optimizer": {"_target_": "torch.optim.Nope"}}, "optim.optimizer._target_"),
        ({"scheduler": {"milestones": [0.5]}}, "optim.scheduler has no _target_"),
        ({"label_smoothing": 1.0}, "optim.label_smoothing=1.0 must be in [0, 1)"),
        ({"mixup_alpha": -1}, "optim.mixup_alpha=-1 must be >= 0"),
        ({"ema_decay": 1.5}, "optim.ema_decay=1.5 must be null (off) or in (0, 1)"),
    ],
)
def test_a_bad_recipe_is_an_error_naming_its_key(changes, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        check_recipe(paper(**changes))


@pytest.mark.parametrize("arch", ["cost_a", "cost_b"])
def test_no_decay_groups(arch):
    net = build_model(arch, "tiny", num_classes=4)
    all_decay = parameter_groups(net, 1e-4, False, False)
    assert len(all_decay) == 1  # the paper: everything decayed
    groups = parameter_groups(net, 1e-4, True, True)
    no_decay = {id(p) for p in groups[1]["params"]}
    bn = {id(p) for m in net.modules() if isinstance(m, torch.nn.BatchNorm3d) for p in m.parameters()}
    coef = {id(p) for n, p in net.named_parameters() if ".coef_" in n}
    assert coef and no_decay == bn | coef and groups[1]["weight_decay"] == 0.0


def test_every_optim_key_comes_from_the_config():
    """No defaults in code: a key the recipe lacks, or one it does not know, is an error naming it."""
    net = torch.nn.Linear(2, 2)
    for fn in (
        lambda o: build_optimizer(net, o, 32, 8),
        lambda o: batch_recipe(o, 8, 1, 1),
        lambda o: effective_lr(o, 32),
    ):
        lacking = paper()
        del lacking["warmup_steps"]
        with pytest.raises(ValueError, match=r"missing key optim\.warmup_steps"):
            fn(lacking)
        with pytest.raises(ValueError, match=r"unknown key optim\.name"):
            fn(paper(name="paper"))


def _recipe(name: str, **changes) -> dict:
    return {**recipe_file(name), **changes}


def _lrs_every_step(optim: dict, total_batch: int, total_steps: int) -> list[list[float]]:
    """The lr of every parameter group at each optimizer step 0..total_steps-1, stepped as
    Lightning steps it (interval "step": once after every optimizer step)."""
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))  # two groups with no_decay_bn
    built = build_optimizer(net, optim, total_batch, total_steps)
    opt, sched = built["optimizer"], built["lr_scheduler"]["scheduler"]
    assert built["lr_scheduler"]["interval"] == "step" and built["lr_scheduler"]["frequency"] == 1
    out = []
    for _ in range(total_steps):
        out.append([g["lr"] for g in opt.param_groups])
        opt.step()
        sched.step()
    return out


def _expected(step: int, base: float, milestones: list[int], warmup: int, start: float) -> tuple[float, bool]:
    """The recipe's lr at ``step`` by its formula, and whether any implementation gets it exactly:
    without warm-up, base and base x 0.1 are one float product; two decays (0.1 x 0.1) and a
    warm-up (the torch schedulers multiply the lr by a ratio every step) round differently, so
    those are compared to within 1e-12."""
    k = sum(step >= m for m in milestones)
    return recipe_lr(step, base, milestones, warmup, start), (k <= 1 and warmup == 0)


@pytest.mark.parametrize(
    "recipe,total_batch,base",
    [
        ("paper", 32, 0.005),  # the paper's lr at its own total batch
        ("paper", 64, 0.01),  # 8 GPUs x 8 clips: x2 (the authors' setting)
        ("authors", 16, 0.0025),  # 0.01 x 16/64
    ],
)
@pytest.mark.parametrize("warmup", [0, 8])
def test_default_recipes_keep_their_lr_at_every_step(recipe, total_batch, base, warmup):
    """Pinned before the schedule was rebuilt from torch's schedulers: 40 steps, decay at 20 and 30
    (0.5 and 0.75), warm-up off and over 8 steps from 0.1 x lr; every group the same lr."""
    optim = _recipe(recipe, warmup_steps=warmup, no_decay_bn=True)
    lrs = _lrs_every_step(optim, total_batch, 40)
    for step, group_lrs in enumerate(lrs):
        want, exact = _expected(step, base, [20, 30], warmup, 0.1)
        assert len(group_lrs) == 2 and group_lrs[0] == group_lrs[1], (step, group_lrs)
        if exact:
            assert group_lrs[0] == want, (step, group_lrs[0], want)
        else:
            assert group_lrs[0] == pytest.approx(want, rel=1e-12, abs=0), (step, group_lrs[0], want)
    if warmup == 0:  # the paper's default: the values themselves, bit for bit
        assert lrs[19][0] == base and lrs[20][0] == base * 0.1 and lrs[29][0] == base * 0.1


@pytest.mark.slow  # 600k scheduler steps: ~5-20 s
def test_paper_schedule_of_600k_steps_decays_at_300k_and_450k():
    """The full paper run (600k iterations at total batch 32), stepped every iteration."""
    lrs = _lrs_every_step(_recipe("paper"), 32, 600_000)
    for step in (0, 1, 299_998, 299_999, 300_000, 300_001, 449_999, 450_000, 450_001, 599_999):
        want, exact = _expected(step, 0.005, [300_000, 450_000], 0, 0.1)
        if exact:
            assert lrs[step][0] == want, (step, lrs[step][0], want)
        else:
            assert lrs[step][0] == pytest.approx(want, rel=1e-12, abs=0), (step, lrs[step][0], want)
    assert lrs[299_999][0] == 0.005 and lrs[300_000][0] == 0.005 * 0.1
    assert lrs[449_999][0] == lrs[300_000][0] and lrs[450_000][0] == pytest.approx(0.005 * 0.01, rel=1e-12)
    assert len({lr[0] for lr in lrs}) == 3  # three values, nothing in between
