"""What run.py and eval.py do, as functions the tests can call: fit, test, write the outputs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict
from pytorch_lightning.plugins.environments import SLURMEnvironment
from pytorch_lightning.utilities import rank_zero_info, rank_zero_only, rank_zero_warn

from cost.models import pretrained

from . import checkpoints
from . import coefficients as coefs
from .callbacks import build_callbacks, build_loggers, log_config
from .config import check_launch, debug_tag, preflight
from .module import VideoClassifier, results_record, write_json
from .predictions import ends_of_ranking
from .rundir import RunLock, delete_previous, move_aside

CHECKPOINT_DIR = "checkpoints"
VALID_TEST_CKPT = ("best", "last")


def _container(node) -> dict:
    return OmegaConf.to_container(node, resolve=True)


def check_config(cfg: DictConfig) -> None:
    """Errors that name the key and the fix, before anything heavy starts."""
    check_launch(cfg)
    arch = cfg.model.get("arch")
    from cost.models import ARCHS, PRESETS

    if arch not in ARCHS:
        raise ValueError(f"model.arch={arch!r} is not valid; choose one of {', '.join(ARCHS)} (or model=<name>)")
    depth = cfg.model.get("depth")
    if depth not in PRESETS and str(depth) not in {str(k) for k in PRESETS}:
        raise ValueError(f"model.depth={depth!r} is not valid; choose one of {', '.join(map(str, PRESETS))}")
    if "test_ckpt" in cfg and cfg.test_ckpt not in VALID_TEST_CKPT:
        raise ValueError(f"test_ckpt={cfg.test_ckpt!r} is not valid; choose one of {', '.join(VALID_TEST_CKPT)}")
    if cfg.frames.num_frames < 1:
        raise ValueError(f"frames.num_frames={cfg.frames.num_frames} must be >= 1")


def init_checkpoint(cfg: DictConfig) -> str | None:
    """``frames.init_checkpoint``; ``auto`` finds the 8-frame run this 32-frame run fine-tunes."""
    value = cfg.frames.get("init_checkpoint")
    if value != "auto":
        return value
    run_dir = Path(cfg.paths.log_dir) / "runs" / str(cfg.frames.init_run)
    for name in ("best.ckpt", "last.ckpt"):
        if (run_dir / CHECKPOINT_DIR / name).is_file():
            return str(run_dir / CHECKPOINT_DIR / name)
    raise FileNotFoundError(
        f"frames.init_checkpoint=auto: no checkpoint of the 8-frame run in {run_dir / CHECKPOINT_DIR}; "
        f"train it first (the same command with frames=8), or set frames.init_checkpoint=<path> "
        f"(or frames.init_run=<run name>)"
    )


def clip_settings(dm) -> dict:
    """What a clip is (saved in the checkpoint; eval.py and predict.py reuse it)."""
    return {"num_frames": int(dm.num_frames), "frame_stride": int(dm.stride),
            "test_short_side": int(dm.test_short_side), "train_crop": int(dm.train_crop)}


def build_module(cfg: DictConfig, output_dir: Path, batch_size: int | None, init_ckpt: str | None = None,
                 weights: str | None = None, clip: dict | None = None,
                 num_classes: int | None = None) -> VideoClassifier:
    """``init_ckpt`` and ``weights`` (a local ImageNet file) come from ``initial_weights``; both
    None: the network's weights come from the checkpoint that Lightning restores."""
    model = _container(cfg.model)
    model["pretrained"] = weights
    return VideoClassifier(
        model=model,
        optim=_container(cfg.optim),
        num_classes=num_classes,
        freeze_bn=bool(cfg.frames.get("freeze_bn", False)),
        init_checkpoint=init_ckpt,
        output_dir=str(output_dir),
        eval_chunk=int(cfg.get("eval_chunk", 0) or 0),
        batch_size=batch_size,
        test_average=str(cfg.get("test_average", "softmax")),
        clip=clip,
    )


def cluster_plugins() -> list:
    """Under submitit's SLURM executor (hydra/launcher=slurm), submitit requeues a preempted
    or timed-out job itself and the rerun resumes from last.ckpt; Lightning's own SLURM
    auto-requeue would requeue the same job a second time, so it is turned off there. A job
    started with plain sbatch keeps Lightning's default."""
    if os.environ.get("SUBMITIT_EXECUTOR") == "slurm" and SLURMEnvironment.detect():
        return [SLURMEnvironment(auto_requeue=False)]
    return []


def build_trainer(cfg: DictConfig, output_dir: Path, callbacks: list, loggers: list) -> pl.Trainer:
    has_ckpt = any(isinstance(c, pl.callbacks.ModelCheckpoint) for c in callbacks)
    clip = cfg.optim.get("grad_clip")
    plugins = cluster_plugins() + [checkpoints.AtomicCheckpointIO()]
    return instantiate(
        cfg.trainer,
        callbacks=callbacks,
        logger=loggers if loggers else False,
        default_root_dir=str(output_dir),
        enable_checkpointing=has_ckpt,
        enable_progress_bar=any(isinstance(c, pl.callbacks.ProgressBar) for c in callbacks),
        gradient_clip_val=float(clip) if clip else None,
        plugins=plugins,
        _convert_="all",
    )


_NEW_RUN_HINT = "or start over with resume=false (the old run's files are moved to <run>/previous-N/)"


def resume_checkpoint(cfg: DictConfig, ckpt_dir: Path) -> str | None:
    """``resume: auto`` finds <run dir>/checkpoints/last.ckpt; a path resumes from it. The file
    is read weights-only here and must hold the network this config asks for."""
    resume = cfg.get("resume", "auto")
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
    saved = (checkpoints.check_readable(path, "resume").get("hyper_parameters") or {}).get("model")
    if saved:
        checkpoints.check_same_network(saved, _container(cfg.model), path, "resume",
                                       f"resume it with the same model settings, {_NEW_RUN_HINT}")
    return str(path)


def initial_weights(cfg: DictConfig) -> tuple[str | None, str | None]:
    """A fresh run's starting weights, ``(frames.init_checkpoint, model.pretrained file)``, each
    read weights-only now (not once per rank after the processes start). ImageNet weights are
    fetched here, before Lightning starts the other DDP ranks, and only when no init checkpoint
    gives the network its weights anyway."""
    path = init_checkpoint(cfg)
    weights = None if path else pretrained.resolve(cfg.model.get("pretrained"), cfg.model.get("depth"))
    if weights:
        checkpoints.imagenet_state(weights)
    if path:
        ckpt = checkpoints.load(path, "frames.init_checkpoint")
        saved = ((ckpt.get("hyper_parameters") or {}) if isinstance(ckpt, dict) else {}).get("model")
        if saved:
            checkpoints.check_same_network(saved, _container(cfg.model), path, "frames.init_checkpoint",
                                           "initialise from a run of the same model")
    return path, weights


def _start_fresh(cfg: DictConfig, output_dir: Path) -> None:
    """Rank zero, before a run starts from step 0: keep what an earlier run left here."""
    if cfg.get("overwrite", False):
        deleted = delete_previous(output_dir)
        if deleted:
            rank_zero_warn(f"overwrite=true: deleted the previous run's files in {output_dir}: "
                           f"{', '.join(p.name for p in deleted)}")
        return
    moved = move_aside(output_dir)
    if moved is not None:
        rank_zero_warn(f"starting run {output_dir.name!r} over: the previous run's files were moved to {moved} "
                       f"(delete that folder when you no longer need it; overwrite=true deletes instead)")


@rank_zero_only
def _trim_curves(output_dir: Path, ckpt_path: str | None) -> None:
    """Keep the coefficient curve rows up to the resumed step."""
    path = output_dir / "coefficient_curves.csv"
    if ckpt_path is None or not path.is_file():
        return
    step = checkpoints.global_step(ckpt_path)
    rows = [r for r in coefs.read_csv(path) if int(r["step"]) <= step]
    coefs.write_csv(path, rows, coefs.CURVE_COLUMNS)


def _read_results(output_dir: Path) -> dict:
    try:
        return json.loads((output_dir / "results.json").read_text())
    except (OSError, ValueError):
        return {}


def _finish_wandb(loggers: list) -> None:
    from pytorch_lightning.loggers import WandbLogger

    if any(isinstance(lg, WandbLogger) for lg in loggers):
        import wandb

        if wandb.run is not None:
            wandb.finish()


def _close_process_group() -> None:
    """All ranks leave together and close the process group that Lightning leaves open: a
    DDP rank that exits with a live gloo group can abort ("terminate called without an
    active exception")."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


def _finish(cfg: DictConfig, trainer: pl.Trainer, module: VideoClassifier, output_dir: Path, loggers: list,
            extra: dict, previous: dict | None = None) -> dict | None:
    """Rank zero writes results.json (the test results plus ``extra``, over the ``previous``
    record's fields that this session did not measure again) and prints the tables; every rank
    then closes W&B and the process group. Returns the record on rank zero."""
    record = None
    if trainer.is_global_zero:
        extra = {**extra, "debug": bool(cfg.get("debug_run", False))}
        record = {**(previous or {}), **results_record(module.test_results, cfg), **extra}
        write_json(output_dir / "results.json", record)
        if cfg.get("print_tables", True):
            print_summary(output_dir, record, module)
    _finish_wandb(loggers)
    _close_process_group()
    return record


def train(cfg: DictConfig) -> dict | None:
    """Fit, test the best (or last) checkpoint, write results.json; returns it on rank zero.
    Rank zero holds the run directory's lock from the first check to the end."""
    check_config(cfg)
    preflight(cfg, ("train", "val", "test"))
    output_dir = Path(cfg.paths.output_dir)
    lock = RunLock(output_dir).acquire() if rank_zero_only.rank == 0 else None
    try:
        return _train(cfg, output_dir)
    finally:
        if lock is not None:
            lock.release()


def _train(cfg: DictConfig, output_dir: Path) -> dict | None:
    ckpt_dir = output_dir / CHECKPOINT_DIR
    pl.seed_everything(int(cfg.seed), workers=True, verbose=False)

    pretrained.check_paper_scale(cfg.model.get("pretrained"), cfg.model.get("depth"))
    no_imagenet = cfg.model.get("pretrained") is None or pretrained.is_scratch(cfg.model.get("pretrained"))
    if cfg.frames.get("freeze_bn") and not cfg.frames.get("init_checkpoint") and no_imagenet:
        rank_zero_warn(
            f"frames={cfg.frames.num_frames} freezes BatchNorm (frames.freeze_bn=true) but starts from no "
            "trained weights: set frames.init_checkpoint=<the 8-frame run's checkpoint> as the paper "
            "does, or frames.freeze_bn=false to train from scratch"
        )
    ckpt_path = resume_checkpoint(cfg, ckpt_dir)
    init_ckpt, weights = None, None
    if ckpt_path is None:
        init_ckpt, weights = initial_weights(cfg)
        if rank_zero_only.rank == 0:
            _start_fresh(cfg, output_dir)
    previous = _read_results(output_dir) if ckpt_path else {}
    dm = instantiate(cfg.data, _convert_="all")
    module = build_module(cfg, output_dir, getattr(dm, "batch_size", None), init_ckpt, weights,
                          clip=clip_settings(dm))
    name = str(cfg.get("name", output_dir.name)) + debug_tag(cfg.get("debug_run"))
    loggers = build_loggers(cfg, output_dir, name)
    callbacks = build_callbacks(cfg, ckpt_dir)
    trainer = build_trainer(cfg, output_dir, callbacks, loggers)
    if ckpt_path:
        rank_zero_info(f"resuming run {name!r} from {ckpt_path}")
    if trainer.is_global_zero:
        _trim_curves(output_dir, ckpt_path)
    log_config(loggers, cfg)

    trainer.fit(module, datamodule=dm, ckpt_path=ckpt_path, weights_only=True)
    if trainer.checkpoint_callback is not None and not trainer.interrupted:
        # last.ckpt at the final step too, so rerunning a finished run only re-tests it.
        trainer.save_checkpoint(ckpt_dir / "last.ckpt", weights_only=False)  # full state: a rerun resumes it

    test_ckpt = None
    best = next((c for c in callbacks if isinstance(c, pl.callbacks.ModelCheckpoint) and c.monitor), None)
    if cfg.get("test_ckpt", "best") == "best" and best is not None and best.best_model_path:
        test_ckpt = best.best_model_path
    elif (ckpt_dir / "last.ckpt").is_file() and not cfg.trainer.get("fast_dev_run"):
        test_ckpt = str(ckpt_dir / "last.ckpt")
    if test_ckpt:
        checkpoints.check_readable(test_ckpt, "test_ckpt")
    trainer.test(module, datamodule=dm, ckpt_path=test_ckpt, verbose=False, weights_only=True)
    extra = {"checkpoint": test_ckpt, "global_step": int(trainer.global_step),
             "recipe": module.recipe}
    if module.val_results is not None:
        extra["val_top1"] = round(float(module.val_results["top1"]), 4)
        extra["val_top5"] = round(float(module.val_results["top5"]), 4)
    return _finish(cfg, trainer, module, output_dir, loggers, extra, previous)


# Overrides eval.py may take: how the trained network is evaluated, not which network it is.
_MODEL_KEYS_FROM_CHECKPOINT = ("model", "frames", "frames.num_frames", "data.num_frames", "data.frame_stride",
                               "data.test_short_side")


def _command_line_overrides() -> list[str]:
    try:
        from hydra.core.hydra_config import HydraConfig

        return list(HydraConfig.get().overrides.task)
    except Exception:  # noqa: BLE001 - not under Hydra (a test calling evaluate directly)
        return []


def from_checkpoint(cfg: DictConfig, hp: dict, ckpt: Path, overrides: list[str]) -> DictConfig:
    """``cfg`` with the network and the clip settings of the checkpoint. A command-line override
    of either that disagrees with the checkpoint is an error naming the key."""
    saved_model = dict(hp["model"], pretrained=None)
    clip = hp.get("clip") or {}
    saved = {"model.arch": saved_model.get("arch"), "frames.num_frames": clip.get("num_frames"),
             "data.num_frames": clip.get("num_frames"), "data.frame_stride": clip.get("frame_stride"),
             "data.test_short_side": clip.get("test_short_side")}
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

            asked = resolve_stride(_container(cfg.data).get("frame_stride"), int(saved["data.num_frames"]))
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
            rank_zero_warn(f"{ckpt} has no clip settings (written before they were saved): using "
                           f"data.num_frames={cfg.data.num_frames} and data.frame_stride from the command line")
    return cfg


def evaluate(cfg: DictConfig) -> dict | None:
    """Multi-view test of ``cfg.ckpt_path`` with the test-view settings of ``cfg.data``; the
    network and clip settings come from the checkpoint."""
    check_config(cfg)
    ckpt = Path(str(cfg.ckpt_path)).expanduser()
    if not ckpt.is_file():
        raise FileNotFoundError(f"ckpt_path={cfg.ckpt_path}: no such checkpoint (e.g. outputs/runs/<name>/checkpoints/best.ckpt)")
    hp = checkpoints.hyper_parameters(ckpt, "ckpt_path")
    cfg = from_checkpoint(cfg, hp, ckpt, _command_line_overrides())
    preflight(cfg, ("test",))
    output_dir = Path(cfg.paths.output_dir)
    lock = RunLock(output_dir).acquire() if rank_zero_only.rank == 0 else None
    try:
        pl.seed_everything(int(cfg.seed), workers=True, verbose=False)
        dm = instantiate(cfg.data, _convert_="all")
        module = build_module(cfg, output_dir, getattr(dm, "batch_size", None),
                              clip=hp.get("clip"), num_classes=int(hp["num_classes"]))
        loggers = build_loggers(cfg, output_dir, str(cfg.get("name", output_dir.name)))
        callbacks = build_callbacks(cfg, output_dir / CHECKPOINT_DIR)
        trainer = build_trainer(cfg, output_dir, callbacks, loggers)
        log_config(loggers, cfg)
        trainer.test(module, datamodule=dm, ckpt_path=str(ckpt), verbose=False, weights_only=True)
        return _finish(cfg, trainer, module, output_dir, loggers, {"checkpoint": str(ckpt)})
    finally:
        if lock is not None:
            lock.release()


def print_summary(output_dir: Path, record: dict, module: VideoClassifier) -> None:
    """The demo's closing output: results, coefficient tables, where the files are."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    n_classes = len(module.class_names or []) or 1
    t = Table(title=f"Test results ({record['arch']}, depth {record['depth']}, {record['dataset']}, {record['frames']} frames)")
    for col in ("top-1 %", "top-5 %", "average %", "videos", "views/video", "chance top-1 %", "skipped"):
        t.add_column(col, justify="right")
    t.add_row(
        f"{record['top1']:.2f}", f"{record['top5']:.2f}", f"{record['average']:.2f}", str(record["num_videos"]),
        str(record["views_per_video"]), f"{100 / n_classes:.2f}", str(len(record["skipped_videos"])),
    )
    console.print(t)
    res = module.test_results or {}
    rows = res.get("coef_rows") or []
    if rows:
        lt = Table(title="Mean coefficient per CoST layer (paper Fig. 8)")
        for col in ("layer", "stage", "unit", "H-W", "T-W", "T-H"):
            lt.add_column(col, justify="right")
        for layer in sorted({r["layer"] for r in rows}):
            rs = {r["view"]: r for r in rows if r["layer"] == layer}
            r0 = rs["hw"]
            lt.add_row(str(layer), f"res{r0['stage']}", str(r0["unit"]), *(f"{rs[v]['mean']:.3f}" for v in ("hw", "tw", "th")))
        means = {v: sum(r["mean"] for r in rows if r["view"] == v) / len({r['layer'] for r in rows}) for v in ("hw", "tw", "th")}
        lt.add_row("mean", "", "", *(f"{means[v]:.3f}" for v in ("hw", "tw", "th")))
        console.print(lt)
        top, bottom = ends_of_ranking(res.get("class_rows") or [], "temporal")
        if top:
            shown = f", the {len(top)} most and {len(bottom)} least temporal" if bottom else ""
            ct = Table(title=f"Classes by temporal importance T-W + T-H (paper Fig. 7{shown}; all in class_coefficients.csv)")
            for col in ("class", "H-W", "T-W", "T-H", "temporal"):
                ct.add_column(col, justify="right")
            for r in top:
                ct.add_row(r["class"], *(f"{r[k]:.3f}" for k in ("hw", "tw", "th", "temporal")))
            if bottom:
                ct.add_row("...", "", "", "", "")
            for r in bottom:
                ct.add_row(r["class"], *(f"{r[k]:.3f}" for k in ("hw", "tw", "th", "temporal")))
            console.print(ct)
        console.print(f"Figures: {output_dir / 'figures'}")
    else:
        console.print("No CoST layers in this model: no coefficient statistics.")
    console.print(f"Run directory: {output_dir}  (results.json, checkpoints/, CSVs)")
