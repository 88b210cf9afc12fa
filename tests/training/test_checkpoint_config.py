"""A network is rebuilt from a checkpoint's data, never from code its config names (issue 20).

A checkpoint passes weights-only loading with nothing but dicts and strings, yet its model
config could name a ``_target_`` for Hydra to call. eval.py and predict.py must refuse it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import torch
import yaml

from cost import checkpoints
from cost.training.config import CONFIG_DIR
from cost.training.runner import build_module
from training_helpers import EVAL_PY, PYTHON, REPO_ROOT, compose_cfg, run_overrides, subprocess_env

PREDICT_PY = REPO_ROOT / "src" / "predict.py"
CLIP = {"num_frames": 8, "frame_stride": 4, "test_short_side": 48, "train_crop": 48}


@pytest.fixture(scope="module")
def honest(data_dir, tmp_path_factory) -> dict:
    """What src/run.py saves for the tiny synthetic model, untrained: a Lightning checkpoint."""
    tmp = tmp_path_factory.mktemp("ckpt")
    cfg = compose_cfg(run_overrides(data_dir, tmp, f"paths.output_dir={tmp / 'run'}"))
    module = build_module(cfg, 2, clip=CLIP, num_classes=16)
    return {
        "state_dict": module.state_dict(),
        "hyper_parameters": dict(module.hparams),
        "class_names": [f"class{i}" for i in range(16)],
        "global_step": 0,
        "epoch": 0,
    }


def _save(ckpt: dict, path: Path) -> Path:
    torch.save(ckpt, path)
    torch.load(path, weights_only=True)  # plain dicts and strings: weights-only loading lets it through
    return path


def _with_model(honest: dict, path: Path, **model) -> Path:
    hp = dict(honest["hyper_parameters"], model={**honest["hyper_parameters"]["model"], **model})
    return _save(dict(honest, hyper_parameters=hp), path)


def _payloads(victim: Path) -> dict:
    """Model values that Hydra's instantiate would turn into calls touching ``victim``."""
    return {
        "open_truncates": {"_target_": "builtins.open", "file": str(victim), "mode": "w"},
        "write_text": {
            "_target_": "pathlib.Path.write_text",
            "self": {"_target_": "pathlib.Path", "_args_": [str(victim)]},
            "data": "pwned",
        },
    }


def _command(route: str, ckpt: Path, data_dir: Path, tmp_path: Path) -> list[str]:
    if route == "eval":
        return [
            PYTHON,
            str(EVAL_PY),
            f"ckpt_path={ckpt}",
            f"paths.data_dir={data_dir}",
            f"hydra.run.dir={tmp_path / 'eval'}",
            "logger=none",
            "data.num_workers=0",
            "trainer.accelerator=cpu",
        ]
    video = sorted((data_dir / "synthetic").rglob("*.mp4"))[0]
    return [PYTHON, str(PREDICT_PY), str(ckpt), str(video), "--clips", "1"]


@pytest.mark.parametrize("payload", ["open_truncates", "write_text"])
@pytest.mark.parametrize("route", ["eval", "predict"])
def test_a_target_in_the_saved_model_config_is_refused_not_called(honest, data_dir, tmp_path, route, payload):
    victim = tmp_path / "precious.txt"
    victim.write_text("the user's data")
    ckpt = _with_model(honest, tmp_path / "evil.ckpt", dropout=_payloads(victim)[payload])
    p = subprocess.run(
        _command(route, ckpt, data_dir, tmp_path), capture_output=True, text=True, env=subprocess_env(), timeout=300
    )
    assert victim.read_text() == "the user's data", f"{route}: the checkpoint's config ran code"
    assert p.returncode != 0
    assert "model.dropout holds a mapping with _target_=" in p.stderr, p.stderr[-2000:]
    assert str(ckpt) in p.stderr and "must be plain values" in p.stderr


@pytest.mark.parametrize(
    "edit,message",
    [
        ({"model": {"_target_": "builtins.print"}}, "model._target_='builtins.print'"),
        ({"model": {"arch": "${oc.env:HOME}"}}, "model.arch holds the interpolation '${oc.env:HOME}'"),
        ({"model": {"unit_patterns": [[1], [{"_target_": "os.getcwd"}]]}}, "model.unit_patterns holds a list"),
        ({"model": {"_args_": ["x"]}}, "model._args_ is not a model setting"),
        ({"model": {"in_channels": 3}}, "model.in_channels is not a model setting"),
        ({"num_classes": "16"}, "num_classes='16'"),
        ({"num_classes": -3}, "num_classes=-3"),
        ({"clip": {**CLIP, "num_frames": {"_target_": "os.getcwd"}}}, "clip.num_frames="),
        ({"clip": {**CLIP, "extra": 1}}, "clip.extra is not a clip setting"),
        ({"clip": {"num_frames": 8}}, "clip.frame_stride is missing"),
        ({"class_names": ["a", 3]}, "class_names must be"),
        ({"class_names": ["a"]}, "class_names must be"),
    ],
)
def test_every_saved_value_an_evaluation_uses_is_checked(honest, tmp_path, edit, message):
    hp = dict(honest["hyper_parameters"])
    ckpt = dict(honest)
    for key, value in edit.items():
        if key == "model":
            hp["model"] = {**hp["model"], **value}
        elif key == "class_names":
            ckpt["class_names"] = value
        else:
            hp[key] = value
    path = _save(dict(ckpt, hyper_parameters=hp), tmp_path / "bad.ckpt")
    with pytest.raises(checkpoints.CheckpointError) as err:
        checkpoints.hyper_parameters(path, "ckpt_path")
    assert str(err.value).startswith(f"ckpt_path={path}: ") and message in str(err.value), str(err.value)


def test_a_resumed_step_count_is_a_whole_number(honest, tmp_path):
    path = _save(dict(honest, global_step="7"), tmp_path / "step.ckpt")
    with pytest.raises(checkpoints.CheckpointError, match=r"resume=.*: global_step='7'"):
        checkpoints.global_step(path)
    assert checkpoints.global_step(_save(dict(honest, global_step=7), tmp_path / "ok.ckpt")) == 7


def test_resume_and_init_checkpoint_comparisons_check_the_saved_config_too(honest, tmp_path):
    path = _with_model(honest, tmp_path / "evil.ckpt", dropout={"_target_": "builtins.print"})
    wanted = honest["hyper_parameters"]["model"]
    with pytest.raises(checkpoints.CheckpointError, match=r"resume=.*model.dropout holds a mapping"):
        checkpoints.check_same_network(
            torch.load(path, weights_only=True)["hyper_parameters"]["model"], wanted, path, "resume", "fix"
        )


def test_an_honest_checkpoint_passes_and_predict_rebuilds_it(honest, tmp_path):
    from cost.predict import load_classifier

    path = _save(honest, tmp_path / "honest.ckpt")
    hp = checkpoints.hyper_parameters(path, "checkpoint")
    assert hp["model"]["_target_"] == checkpoints.MODEL_TARGET and hp["num_classes"] == 16 and hp["clip"] == CLIP
    net, names, model_cfg, clip = load_classifier(path)
    assert names[3] == "class3" and clip == CLIP and model_cfg["arch"] == honest["hyper_parameters"]["model"]["arch"]
    torch.testing.assert_close(net.state_dict()["fc.weight"], honest["state_dict"]["net.fc.weight"])


def test_the_known_model_keys_are_the_model_config_groups():
    """checkpoints.MODEL_KEYS (library code, no Hydra) follows conf/_resnet.yaml."""
    keys = set(yaml.safe_load((Path(CONFIG_DIR) / "_resnet.yaml").read_text())) - {"_target_"}
    assert keys == set(checkpoints.MODEL_KEYS)
    for name in ("c2d", "c3d", "cost_a", "cost_b"):
        own = set(yaml.safe_load((Path(CONFIG_DIR) / "model" / f"{name}.yaml").read_text())) - {"defaults"}
        assert own <= keys
