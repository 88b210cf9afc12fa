"""Preflight of the keys themselves: the typed sections (optim, callbacks) and keys added
with ``+key=value`` that nothing reads."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf


def _section_problems(cfg: DictConfig) -> list[str]:
    """The typed sections (optim, callbacks) read later in the run: a missing or unknown key now."""
    from .callbacks import CallbacksConfig, check_callbacks
    from .config import section
    from .schedules import OptimConfig, check_recipe

    problems = []
    for cls, key in ((OptimConfig, "optim"), (CallbacksConfig, "callbacks")):
        try:
            section(cls, cfg[key], key)
            (check_recipe if cls is OptimConfig else check_callbacks)(cfg[key])
        except ValueError as err:
            problems.append(str(err))
    return problems


def _added_key_problems(overrides: list[str], cfg: DictConfig) -> list[str]:
    """``+key=value`` on the command line adds a key no config file has, so nothing reads it
    unless its section hands every key to a callable (conf/README.md, "Added keys"):
    ``trainer`` (``pl.Trainer``), ``data`` (``VideoDataModule``), ``logger.<name>`` (its
    class; W&B also takes ``wandb.init``'s keys) and a whole new ``logger.<name>``. ``optim``
    and ``callbacks`` are typed sections checked by ``_section_problems``; config groups and
    ``hydra.*`` are Hydra's. Anything else added is an error; ``++key`` (add or set) only in
    the sections with a signature."""
    import inspect

    import pytorch_lightning as pl
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from cost.data import VideoDataModule

    from .config import CONFIG_DIR

    def params(fn) -> set[str]:
        return set(inspect.signature(fn).parameters) - {"self", "args", "kwargs"}

    # Trainer arguments that build_trainer sets itself would be overridden silently.
    trainer = params(pl.Trainer.__init__) - {
        "callbacks", "logger", "default_root_dir", "enable_checkpointing", "enable_progress_bar",
        "gradient_clip_val", "plugins",
    }  # fmt: skip
    problems = []
    for o in OverridesParser.create().parse_overrides(overrides):
        key = o.key_or_group
        if not (o.is_add() or o.is_force_add()) or key.split(".")[0].split("/")[0] in ("hydra", "optim", "callbacks"):
            continue
        if "/" in key or (CONFIG_DIR / key.replace(".", "/")).is_dir():
            continue  # a config group choice
        parts = key.split(".")
        if parts[0] == "trainer" and len(parts) > 1 and parts[1] in trainer:
            continue
        if parts[0] == "data" and len(parts) == 2 and parts[1] in params(VideoDataModule.__init__):
            continue
        if parts[0] == "logger" and len(parts) == 2:
            continue  # a new logger: build_loggers needs its _target_
        if parts[0] == "logger" and len(parts) == 3:
            options = _logger_options(cfg, parts[1])
            if options is None or parts[2] in options:
                continue
        if o.is_force_add() and parts[0] not in ("trainer", "data", "logger"):
            continue  # ++ sets an existing key too: checked only where a signature says what exists
        problems.append(
            f"+{key}: no config file has this key and nothing reads it (a typo?); "
            f"see `python src/run.py --cfg job` for the keys, and conf/README.md (Added keys)"
        )
    return problems


def _logger_options(cfg: DictConfig, name: str) -> set[str] | None:
    """The keys ``logger.<name>`` may hold: its class's arguments (W&B: also ``wandb.init``'s);
    None when the class takes any keyword."""
    import inspect

    from hydra.utils import get_class
    from pytorch_lightning.loggers import WandbLogger

    from .loggers import _wandb_options

    target = OmegaConf.select(cfg, f"logger.{name}._target_", default=None)
    try:
        cls = get_class(str(target)) if target else None
    except Exception:  # noqa: BLE001 - a wrong _target_: build_loggers names it
        cls = None
    if cls is None:
        return None
    if issubclass(cls, WandbLogger):
        return _wandb_options() | {"_target_"}
    names = {"_target_"}
    for klass in cls.__mro__:  # **kwargs handed on to the base class: its arguments too
        if "__init__" in vars(klass):
            params = inspect.signature(vars(klass)["__init__"]).parameters
            names |= set(params) - {"self", "args", "kwargs"}
            if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
                return names
    return None


def added_key_problems(cfg: DictConfig) -> list[str]:
    """``_added_key_problems`` on this Hydra job's command line (none outside Hydra)."""
    try:
        from hydra.core.hydra_config import HydraConfig

        overrides = list(HydraConfig.get().overrides.task)
    except Exception:  # noqa: BLE001 - not under Hydra (tests calling the runner directly)
        return []
    return _added_key_problems(overrides, cfg)
