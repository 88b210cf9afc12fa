"""What a run starts from: its resume checkpoint, or a fresh run's init checkpoint and ImageNet
file; and for an evaluation, the network and clip settings that its checkpoint fixes. Every file
is read weights-only through ``checkpoints`` (docs/run-directory.md, docs/method.md)."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict
from pytorch_lightning.utilities import rank_zero_warn

from cost import checkpoints
from cost.models import pretrained
from cost.results import unfinished

from .config import resolved
from .rundir import CONFIG_FILE

CHECKPOINT_DIR = "checkpoints"
# The keys a rerun may change and still resume the run (conf/README.md): how long it trains,
# how it is tested, and what only affects speed, logging or where files are. Any other key that
# differs from the run's saved config.yaml is refused. A key matches itself and its sub-keys.
RERUN_MAY_CHANGE = (
    "trainer.max_steps",
    "data.test_clips",
    "data.test_crops",
    "data.test_batch_size",
    "data.test_split",
    "data.val_batch_size",
    "test_ckpt",
    "test_average",
    "eval_chunk",
    "trainer.limit_test_batches",
    "data.num_workers",
    "data.pin_memory",
    "data.prefetch_factor",
    "data.decode_threads",
    "model.cost_impl",
    "print_tables",
    "logger",
    "callbacks.rich_progress",
    "callbacks.plain_progress",
    "callbacks.progress_every_n_steps",
    "callbacks.model_summary_depth",
    "trainer.log_every_n_steps",
    "resume",
    "overwrite",
    "paths",
    "data.root",
)
_NEW_RUN_HINT = "or start over with resume=false (the old run's files are moved to <run>/previous-N/)"
# Overrides eval.py may take: how the trained network is evaluated, not which network it is.
_MODEL_KEYS_FROM_CHECKPOINT = (
    "model",
    "frames",
    "frames.num_frames",
    "data.num_frames",
    "data.frame_stride",
    "data.test_short_side",
)


def init_checkpoint(cfg: DictConfig) -> str | None:
    """``frames.init_checkpoint``; ``auto`` finds the 8-frame run this 32-frame run fine-tunes."""
    value = cfg.frames.init_checkpoint
    if value != "auto":
        return value
    run_dir = Path(cfg.paths.log_dir) / "runs" / str(cfg.frames.init_run)
    for name in ("best.ckpt", "last.ckpt"):
        if (run_dir / CHECKPOINT_DIR / name).is_file():
            if reason := unfinished(run_dir):  # a preempted or failed 8-frame run: never fine-tune from it
                raise ValueError(
                    f"frames.init_checkpoint=auto: the 8-frame run {run_dir} has not finished ({reason}); "
                    f"finish it first (rerun its command: it resumes), or set frames.init_checkpoint=<path> "
                    f"to fine-tune from a checkpoint of your choice"
                )
            return str(run_dir / CHECKPOINT_DIR / name)
    raise FileNotFoundError(
        f"frames.init_checkpoint=auto: no checkpoint of the 8-frame run in {run_dir / CHECKPOINT_DIR}; "
        f"train it first (the same command with frames=8), or set frames.init_checkpoint=<path> "
        f"(or frames.init_run=<run name>)"
    )


def resume_checkpoint(cfg: DictConfig, ckpt_dir: Path) -> str | None:
    """``resume: auto`` finds <run dir>/checkpoints/last.ckpt; a path resumes from it. The file
    is read weights-only here and must hold the network this config asks for, and the config
    must be the run's own (``check_same_config``)."""
    resume = cfg.resume
    if resume in (False, None, "false", "False", "no"):
        return None
    if resume in (True, "auto", "true", "True"):
        path = ckpt_dir / "last.ckpt"
        if not path.is_file():
            return None
    else:
        path = Path(str(resume)).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"resume={resume}: no such checkpoint (use resume=auto or resume=false)")
    # Optional: a Lightning checkpoint saved without hyper-parameters has no model config to compare.
    saved = (checkpoints.check_readable(path, "resume").get("hyper_parameters") or {}).get("model")
    if saved:
        checkpoints.check_same_network(
            saved, resolved(cfg.model), path, "resume", f"resume it with the same model settings, {_NEW_RUN_HINT}"
        )
    check_same_config(cfg, ckpt_dir.parent)
    return str(path)


def _flat(node, prefix: str = "") -> dict:
    if isinstance(node, dict) and node:
        return {k: v for key, value in node.items() for k, v in _flat(value, f"{prefix}{key}.").items()}
    return {prefix[:-1]: node}


def check_same_config(cfg: DictConfig, run_dir: Path) -> None:
    """A resume continues the run it finds: a config that differs from the run's saved
    config.yaml, outside RERUN_MAY_CHANGE, is refused with every differing key (the run's
    optimizer state and schedule would silently win over the new values, while results.json
    would record them). Runs saved before config.yaml existed are not checked."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        return
    saved, asked = _flat(OmegaConf.to_container(OmegaConf.load(path))), _flat(resolved(cfg))

    def shown(values: dict, key: str) -> str:
        return repr(values[key]) if key in values else "no such key"

    differ = [
        f"{key}: the run has {shown(saved, key)}, this command {shown(asked, key)}"
        for key in sorted(set(saved) | set(asked))
        if (key in saved, saved.get(key)) != (key in asked, asked.get(key))
        and not any(key == k or key.startswith(k + ".") for k in RERUN_MAY_CHANGE)
    ]
    if differ:
        raise ValueError(
            f"run directory {run_dir} holds a run with another config ({path}), and resuming it would "
            f"train with the run's settings while recording these:\n  " + "\n  ".join(differ) + "\n"
            "Use resume=false to start this config over in that directory (the old run's files move to "
            "previous-N/), or give it a new name=<run name>. The keys a resume may change are listed in "
            "conf/README.md (RERUN_MAY_CHANGE in cost/training/restore.py)."
        )


def initial_weights(cfg: DictConfig) -> tuple[str | None, str | None]:
    """A fresh run's starting weights, ``(frames.init_checkpoint, model.pretrained file)``, each
    read weights-only now (not once per rank after the processes start). ImageNet weights are
    fetched here, before Lightning starts the other DDP ranks, and only when no init checkpoint
    gives the network its weights anyway."""
    path = init_checkpoint(cfg)
    weights = None if path else pretrained.resolve(cfg.model.pretrained, cfg.model.depth)
    if weights:
        checkpoints.imagenet_state(weights)
    if path:
        ckpt = checkpoints.load(path, "frames.init_checkpoint")
        # Optional: an init checkpoint may be a plain state dict, or a Lightning one without hyper-parameters.
        saved = ((ckpt.get("hyper_parameters") or {}) if isinstance(ckpt, dict) else {}).get("model")
        if saved:
            checkpoints.check_same_network(
                saved, resolved(cfg.model), path, "frames.init_checkpoint", "initialise from a run of the same model"
            )
    return path, weights


def command_line_overrides() -> list[str] | None:
    """The command line's overrides; None when not under Hydra (a caller that composed the
    config itself, as tests do: it is taken as it is)."""
    try:
        from hydra.core.hydra_config import HydraConfig

        return list(HydraConfig.get().overrides.task)
    except ValueError:  # HydraConfig not set: not under Hydra
        return None


# eval.py's own test views: they name its directory (conf/eval.yaml), so the run's never replace them.
_EVAL_VIEW_KEYS = ("test_clips", "test_crops")


def _plain_data(node, where: str) -> None:
    """A data config read from a file holds data only: no ``_target_`` below the top (Hydra
    would call it), no interpolation, no object."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "_target_" and where != "data":
                raise ValueError(f"{where}._target_={v!r}: a data config read from a file names no code")
            _plain_data(v, f"{where}.{k}")
    elif not checkpoints.plain(node):
        raise ValueError(f"{where} holds {checkpoints.describe(node)}, not a plain value")


def run_data(cfg: DictConfig, ckpt: Path, overrides: list[str] | None) -> tuple[DictConfig, str]:
    """eval.py's data: the data config of the run the checkpoint comes from (its resolved
    ``<run>/config.yaml``), then the command line's ``data.*`` overrides and eval.py's own test
    views. ``data=<name>`` (or an experiment) on the command line, or a caller not under Hydra,
    keeps ``cfg.data``. Returns the config and where its data config came from. The file's
    values are read as plain data; the ``_target_`` built is the one of conf/data."""
    keys = [o.lstrip("+~").partition("=")[0] for o in (overrides or [])]
    if overrides is None or "data" in keys or "experiment" in keys:
        return cfg, "this command's config"
    run_dir = ckpt.parent.parent if ckpt.parent.name == CHECKPOINT_DIR else None
    path = run_dir / CONFIG_FILE if run_dir else None
    if path is None or not path.is_file():
        raise FileNotFoundError(
            f"ckpt_path={ckpt}: the data it was trained on is unknown here: eval.py reads it from the run's "
            f"{CONFIG_FILE} (<run>/{CONFIG_FILE} next to <run>/{CHECKPOINT_DIR}/), and "
            f"{path or 'a checkpoint outside a run directory'} does not exist. Name it on the command line: "
            f"data=<name> data.root=<its folder> (and the splits the run used)"
        )
    try:
        saved = OmegaConf.to_container(OmegaConf.load(path)).get("data")
        if not isinstance(saved, dict) or not saved:
            raise ValueError("it has no data section")
        _plain_data(saved, "data")
        if saved.get("_target_", cfg.data._target_) != cfg.data._target_:
            raise ValueError(f"data._target_={saved['_target_']!r}; a data module is built by {cfg.data._target_}")
    except Exception as err:  # noqa: BLE001 - a damaged or edited file: say which and what to do
        raise ValueError(
            f"{path}: cannot take the run's data config from it ({err}); name the data on the command line: "
            f"data=<name> data.root=<its folder>"
        ) from None
    data = OmegaConf.create({**saved, "_target_": cfg.data._target_})
    for key in [f"data.{k}" for k in _EVAL_VIEW_KEYS] + [k for k in keys if k.startswith("data.")]:
        value = OmegaConf.select(cfg, key, default=None)  # the override as composed (None: ~data.<key>)
        if isinstance(value, DictConfig | ListConfig):
            value = OmegaConf.to_container(value, resolve=True)
        if value is None and f"~{key}" in [o.partition("=")[0] for o in overrides]:
            data.pop(key[len("data.") :], None)
        else:
            OmegaConf.update(data, key[len("data.") :], value, merge=False, force_add=True)
    cfg = cfg.copy()
    with open_dict(cfg):
        cfg.data = data
    return cfg, str(path)


def from_checkpoint(cfg: DictConfig, hp: dict, ckpt: Path, overrides: list[str]) -> DictConfig:
    """``cfg`` with the network and the clip settings of the checkpoint. A command-line override
    of either that disagrees with the checkpoint is an error naming the key."""
    saved_model = dict(hp["model"], pretrained=None)
    clip = hp.get("clip") or {}  # optional: checkpoints written before the clip settings were saved
    saved = {
        "model.arch": saved_model.get("arch"),
        "frames.num_frames": clip.get("num_frames"),
        "data.num_frames": clip.get("num_frames"),
        "data.frame_stride": clip.get("frame_stride"),
        "data.test_short_side": clip.get("test_short_side"),
    }
    saved.update({f"model.{k}": v for k, v in checkpoints.network_config(saved_model).items()})
    conflicts = []
    for override in overrides:
        key = override.lstrip("+~").partition("=")[0]
        if key in ("model", "frames"):
            key = {"model": "model.arch", "frames": "frames.num_frames"}[key]
        elif not key.startswith(_MODEL_KEYS_FROM_CHECKPOINT) or key not in saved:
            continue
        if saved.get(key) is None:
            continue
        asked = OmegaConf.select(cfg, key)
        if key == "data.frame_stride":
            from cost.data.sampling import resolve_stride

            asked = resolve_stride(resolved(cfg.data)["frame_stride"], int(saved["data.num_frames"]))
        if str(asked) != str(saved[key]):
            conflicts.append(f"{key}={asked!r} (the checkpoint was trained with {saved[key]!r})")
    if conflicts:
        raise ValueError(
            f"ckpt_path={ckpt}: eval.py takes the network and the clip settings from the checkpoint, and the "
            f"command line asks for others: {'; '.join(conflicts)}. Drop these overrides; only evaluation "
            f"settings may change (data.test_clips, data.test_crops, data.test_batch_size, eval_chunk, ...)"
        )
    cfg = cfg.copy()
    with open_dict(cfg):
        cfg.model = saved_model
        if clip:
            cfg.frames.num_frames = int(clip["num_frames"])
            cfg.data.num_frames = int(clip["num_frames"])
            cfg.data.frame_stride = int(clip["frame_stride"])
            cfg.data.test_short_side = int(clip["test_short_side"])
        else:
            rank_zero_warn(
                f"{ckpt} has no clip settings (written before they were saved): using "
                f"data.num_frames={cfg.data.num_frames} and data.frame_stride from the command line"
            )
    return cfg
