"""Every config combination composes and instantiates; bad values fail early and clearly."""

from __future__ import annotations

import itertools
import re
import subprocess

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import MissingConfigException
from hydra.utils import instantiate
from omegaconf import OmegaConf

from cost.models.factory import build_net
from cost.training.callbacks import CallbacksConfig
from cost.training.config import CONFIG_DIR, runs_on_gpu
from cost.training.preflight import check_config, multiprocess_trainer, preflight
from cost.training.schedules import OptimConfig
from cost.training.trainer import speed_defaults_note
from training_helpers import EVAL_PY, PYTHON, RUN_PY, compose_cfg, subprocess_env

MODELS = ["c2d", "c3d", "cost_a", "cost_b"]
DATA = ["synthetic", "kinetics", "moments", "folder", "list"]
FRAMES = ["8", "32"]
SHARE = ["true", "false"]
TRAINERS = ["default", "cpu", "gpu", "ddp"]


def test_groups_on_disk():
    for group, names in {
        "model": MODELS,
        "data": DATA,
        "frames": FRAMES,
        "trainer": TRAINERS,
        "logger": ["wandb", "csv", "none"],
    }.items():
        on_disk = {p.stem for p in (CONFIG_DIR / group).glob("*.yaml")}
        assert set(names) <= on_disk, group


_nets: dict = {}


@pytest.mark.parametrize("model,data", list(itertools.product(MODELS, DATA)))
def test_compose_and_instantiate_every_combination(tmp_path, model, data):
    for frames, share, trainer in itertools.product(FRAMES, SHARE, TRAINERS):
        cfg = compose_cfg(
            [
                f"model={model}",
                f"data={data}",
                f"frames={frames}",
                f"model.share_weights={share}",
                f"trainer={trainer}",
                f"paths.data_dir={tmp_path}",
                f"paths.output_dir={tmp_path}/run",
            ]
        )
        check_config(cfg)
        assert cfg.model.arch == model and cfg.frames.num_frames == int(frames)
        assert cfg.model.depth == ("tiny" if data == "synthetic" else 50)  # the per-dataset preset
        assert cfg.data.num_frames == int(frames)
        assert cfg.frames.freeze_bn == (frames == "32")
        assert str(tmp_path) in cfg.data.root
        name = cfg.name
        assert model in name and f"f{frames}" in name and (share == "true") != name.endswith("_noshare")
        dm = instantiate(cfg.data)
        assert dm.num_frames == int(frames)
        # The trainer config builds a Trainer (on this CPU-only machine, as a CPU one).
        tcfg = dict(cfg.trainer)
        tcfg.update(accelerator="cpu", devices=1, strategy="auto", logger=False, enable_checkpointing=False)
        instantiate(tcfg)
        key = (model, share, cfg.model.depth)
        if key not in _nets:  # one network per distinct architecture (R50 builds are slow)
            net = build_net({**cfg.model, "pretrained": None}, num_classes=5)  # ImageNet loading: tests/models
            _nets[key] = sum(p.numel() for p in net.parameters())
            if cfg.model.depth == "tiny":
                out = net(torch.randn(2, 3, int(frames), 32, 32))
                assert out.shape == (2, 5)


def test_trainer_presets():
    assert compose_cfg(["trainer=ddp", "paths.output_dir=x"]).trainer.strategy == "ddp"
    assert compose_cfg(["trainer=gpu", "paths.output_dir=x"]).trainer.accelerator == "gpu"
    assert compose_cfg(["trainer=cpu", "paths.output_dir=x"]).trainer.accelerator == "cpu"
    assert multiprocess_trainer(compose_cfg(["trainer=ddp", "paths.output_dir=x"]).trainer)
    assert not multiprocess_trainer(compose_cfg(["paths.output_dir=x"]).trainer)
    assert multiprocess_trainer(compose_cfg(["trainer.devices=8", "paths.output_dir=x"]).trainer)


def test_real_data_is_paper_scale_and_experiments_compose():
    cfg = compose_cfg(["model=cost_b", "data=moments", "trainer.devices=8", "paths.output_dir=x"])
    assert cfg.model.depth == 50 and cfg.trainer.max_steps == 600_000 and cfg.optim.lr == 0.005
    assert cfg.optim.scheduler.milestones == [0.5, 0.75] and cfg.optim.optimizer.momentum == 0.9
    assert cfg.optim.weight_decay == 1e-4 and cfg.optim.optimizer._target_ == "torch.optim.SGD"
    for exp in (CONFIG_DIR / "experiment").glob("*.yaml"):
        c = compose_cfg([f"experiment={exp.stem}", "paths.output_dir=x"])
        check_config(c)
    a = compose_cfg(["optim=authors", "data=kinetics", "paths.output_dir=x"])
    assert a.optim.lr == 0.01 and a.optim.grad_clip == 40.0 and a.optim.base_batch_size == 64


def test_every_reading_is_a_key():
    m = compose_cfg(["paths.output_dir=x"]).model
    for key in (
        "pool1_kernel",
        "pool2_kernel",
        "stride_on",
        "dropout",
        "coef_init",
        "unit_patterns",
        "inflate",
        "pretrained",
        "share_weights",
        "depth",
    ):
        assert key in m
    o = compose_cfg(["model.pool1_kernel=[1,3,3]", "model.pool2_kernel=null", "paths.output_dir=x"]).model
    assert list(o.pool1_kernel) == [1, 3, 3] and o.pool2_kernel is None


def test_unknown_group_value_lists_the_choices():
    with pytest.raises(MissingConfigException) as err:
        compose_cfg(["model=cost_c"])
    msg = str(err.value)
    assert "cost_c" in msg and all(m in msg for m in MODELS)
    with pytest.raises(ValueError, match="model.depth=.*choose one of"):
        check_config(compose_cfg(["model.depth=34", "paths.output_dir=x"]))
    with pytest.raises(ValueError, match="test_ckpt"):
        check_config(compose_cfg(["test_ckpt=first", "paths.output_dir=x"]))


def test_bad_value_from_the_command_line(tmp_path):
    p = subprocess.run(
        [PYTHON, str(RUN_PY), "data=kinectics", f"paths.log_dir={tmp_path}"],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=120,
    )
    assert p.returncode != 0
    assert "kinectics" in p.stderr and "kinetics" in p.stderr and "moments" in p.stderr


def test_multirun_with_ddp_on_basic_launcher_is_refused(tmp_path):
    p = subprocess.run(
        [
            PYTHON,
            str(RUN_PY),
            "-m",
            "trainer=ddp",
            "trainer.accelerator=cpu",
            "trainer.devices=2",
            "model=c2d,cost_a",
            f"paths.log_dir={tmp_path}",
            f"paths.data_dir={tmp_path}/data",
        ],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=120,
    )
    out = p.stdout + p.stderr
    assert p.returncode != 0, out
    assert "submitit_slurm" in out and "one by one" in out and "experiments/sweep.py" in out
    assert not (tmp_path / "data").exists()  # stopped before touching data


GROUPS = (
    "preset",
    "model",
    "data",
    "experiment",
    "frames",
    "optim",
    "optim/optimizer",
    "optim/scheduler",
    "trainer",
    "logger",
    "callbacks",
    "debug",
)


def _choices(group: str) -> list[str]:
    """A group's options; a file whose name starts with _ is a base the options extend."""
    return sorted(p.stem for p in (CONFIG_DIR / group).glob("*.yaml") if not p.name.startswith("_"))


@pytest.mark.parametrize("entry", ["config", "eval"])
def test_every_choice_of_every_group_composes(entry):
    """Each option of each group, in both entry configs: it composes, every interpolation
    resolves, the option took effect, and the typed sections take the composed keys."""
    extra = ["paths.output_dir=x"] + (["ckpt_path=/r/run/checkpoints/best.ckpt"] if entry == "eval" else [])
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        configs = {
            (group, choice): compose(entry, overrides=[f"{group}='{choice}'", *extra])
            for group in GROUPS
            for choice in _choices(group)
        }
    assert {group for group, _ in configs} == set(GROUPS)
    for (group, choice), cfg in configs.items():
        OmegaConf.to_container(cfg, resolve=True)
        OptimConfig.of(cfg.optim)
        CallbacksConfig.of(cfg.callbacks)
        check_config(cfg)
        if group == "model":
            assert cfg.model.arch == choice
        elif group == "data":
            assert (cfg.data.format, cfg.data.name) == (choice, choice)
            assert cfg.model.depth == ("tiny" if choice == "synthetic" else 50)  # the preset follows data
        elif group == "frames":
            assert cfg.frames.num_frames == cfg.data.num_frames == int(choice)


@pytest.mark.parametrize(
    "override,message",
    [
        ("+optim.name=paper", "unknown key optim.name"),
        ("~optim.warmup_steps", "missing key optim.warmup_steps"),
        ("+callbacks.rich_progres=false", "unknown key callbacks.rich_progres"),
    ],
)
def test_a_wrong_key_in_a_typed_section_stops_the_run_at_once(tmp_path, override, message):
    """conf/ holds every value, so a key the code does not read, or one it needs, is an error
    before anything is built, naming the key."""
    cfg = compose_cfg([override, f"paths.data_dir={tmp_path}", f"paths.output_dir={tmp_path}/run"])
    with pytest.raises(ValueError, match=re.escape(message)):
        preflight(cfg, ("train", "val", "test"))


@pytest.mark.parametrize("script", [RUN_PY, EVAL_PY])
def test_help_lists_only_choices_that_compose(script):
    """`--help` lists each group's options; the bases the options extend (conf/_video.yaml,
    conf/_resnet.yaml, conf/_paper.yaml) are outside every group, so none of them is offered.
    Every option listed composes with every interpolation resolved and passes check_config."""
    p = subprocess.run(
        [PYTHON, str(script), "--help"], capture_output=True, text=True, env=subprocess_env(), timeout=120
    )
    assert p.returncode == 0, p.stderr
    listing = p.stdout.split("== Configuration groups ==")[1].split("== Config ==")[0]
    listed = dict(line.split(": ", 1) for line in listing.splitlines() if ": " in line)
    assert set(GROUPS) <= set(listed), listed
    entry = "config" if script == RUN_PY else "eval"
    extra = ["paths.output_dir=x"] + (["ckpt_path=/r/run/checkpoints/best.ckpt"] if entry == "eval" else [])
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        for group, options in listed.items():
            for choice in options.split(", "):
                assert not choice.startswith("_"), f"{group}: {choice}"
                cfg = compose(entry, overrides=[f"{group}='{choice}'", *extra])
                OmegaConf.to_container(cfg, resolve=True)
                check_config(cfg)


def test_precision_and_cudnn_benchmark_follow_the_accelerator_without_a_flag():
    """The default trainer (what `run.py model=cost_b data=moments trainer.devices=8` composes)
    trains in bf16-mixed with cuDNN autotuning on CUDA GPUs and in fp32 without it on CPU; an
    explicit value wins. `--cfg job` shows the rule, `--resolve` the value chosen here."""
    assert runs_on_gpu("auto", cuda_available=True) and runs_on_gpu("gpu", cuda_available=False)
    assert runs_on_gpu("cuda", cuda_available=True)
    assert not runs_on_gpu("auto", cuda_available=False) and not runs_on_gpu("cpu", cuda_available=True)
    here = torch.cuda.is_available()
    paper = ["model=cost_b", "data=moments", "trainer.devices=8", "paths.output_dir=x"]
    for overrides, on_gpu in [
        ([], here),
        (["trainer.accelerator=gpu"], True),
        (["trainer=gpu"], True),
        (["trainer=ddp"], here),
        (["trainer=cpu"], False),
        (["trainer.accelerator=cpu"], False),
    ]:
        trainer = compose_cfg(paper + overrides).trainer
        assert (trainer.precision, trainer.benchmark) == (("bf16-mixed", True) if on_gpu else ("32-true", False))
    if not here:  # this CPU machine: the plain default stays fp32
        assert compose_cfg(paper).trainer.precision == "32-true"
    chosen = compose_cfg([*paper, "trainer.accelerator=gpu", "trainer.precision=16-mixed"])
    assert (chosen.trainer.precision, chosen.trainer.benchmark) == ("16-mixed", True)
    assert speed_defaults_note(chosen).startswith("trainer.benchmark=True: the CUDA GPU default")
    assert "trainer.precision=32-true, trainer.benchmark=False: the CPU default" in speed_defaults_note(
        compose_cfg([*paper, "trainer=cpu"])
    )

    def shown(*flags):
        p = subprocess.run(
            [PYTHON, str(RUN_PY), *paper, "--cfg", "job", *flags],
            capture_output=True,
            text=True,
            env=subprocess_env(),
            timeout=120,
        )
        assert p.returncode == 0, p.stderr
        return p.stdout

    assert "precision: ${if_gpu:${.accelerator},bf16-mixed,32-true}" in shown()
    assert f"precision: {'bf16-mixed' if here else '32-true'}" in shown("--resolve")
