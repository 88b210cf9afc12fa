"""Recipes: step decay at the paper's iterations, warm-up, lr scaling, no-decay groups."""

import pytest
import torch
from omegaconf import OmegaConf

from cost.models import build_model
from cost.training.config import CONFIG_DIR
from cost.training.schedules import (
    batch_recipe,
    build_optimizer,
    effective_lr,
    lr_factor,
    milestone_steps,
    parameter_groups,
)


def paper(**changes) -> dict:
    """conf/optim/paper.yaml (the one place of the recipe's values) with ``changes``."""
    return {**OmegaConf.to_container(OmegaConf.load(CONFIG_DIR / "optim" / "paper.yaml")), **changes}


def test_paper_milestones_are_300k_and_450k_of_600k():
    steps = milestone_steps([0.5, 0.75], 600_000)
    assert steps == [300_000, 450_000]
    assert milestone_steps([300_000, 450_000], 10) == [300_000, 450_000]
    assert lr_factor(299_999, steps, 0.1, 0, 0.1) == 1.0
    assert lr_factor(300_000, steps, 0.1, 0, 0.1) == pytest.approx(0.1)
    assert lr_factor(450_000, steps, 0.1, 0, 0.1) == pytest.approx(0.01)


def test_warmup_and_linear_scaling():
    assert lr_factor(0, [100], 0.1, 10, 0.1) == pytest.approx(0.1)
    assert lr_factor(5, [100], 0.1, 10, 0.1) == pytest.approx(0.55)
    assert lr_factor(10, [100], 0.1, 10, 0.1) == 1.0
    cfg = paper(lr=0.005, base_batch_size=32, scale_lr=True)
    assert effective_lr(cfg, 256) == pytest.approx(0.04)
    assert effective_lr({**cfg, "scale_lr": False}, 256) == pytest.approx(0.005)


def test_scheduler_steps_per_iteration():
    net = torch.nn.Linear(2, 2)
    opt = build_optimizer(net, paper(lr=1.0, milestones=[0.5, 0.75], scale_lr=False), 32, 8)
    sched = opt["lr_scheduler"]["scheduler"]
    assert opt["lr_scheduler"]["interval"] == "step"
    lrs = []
    for _ in range(8):
        lrs.append(opt["optimizer"].param_groups[0]["lr"])
        opt["optimizer"].step()
        sched.step()
    assert lrs == pytest.approx([1, 1, 1, 1, 0.1, 0.1, 0.01, 0.01])


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
        del lacking["gamma"]
        with pytest.raises(ValueError, match=r"missing key optim\.gamma"):
            fn(lacking)
        with pytest.raises(ValueError, match=r"unknown key optim\.name"):
            fn(paper(name="paper"))


def _recipe(name: str, **changes) -> dict:
    return {**OmegaConf.to_container(OmegaConf.load(CONFIG_DIR / "optim" / f"{name}.yaml")), **changes}


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
    """The recipe's lr at ``step`` by its formula (docs/method.md#training-recipe): base x 0.1 per
    milestone passed, times the linear warm-up factor; and whether it is one float product
    (exact in any implementation) or several (equal to within rounding)."""
    k = sum(step >= m for m in milestones)
    factor = 0.1**k
    warming = warmup > 0 and step < warmup
    if warming:
        factor *= start + (1.0 - start) * step / warmup
    return base * factor, (k <= 1 and not warming)


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
    assert lrs[19][0] == base and lrs[20][0] == base * 0.1 and lrs[29][0] == base * 0.1


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
