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
