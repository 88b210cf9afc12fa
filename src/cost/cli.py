"""The start shared by the Hydra entry points ``cost.run`` and ``cost.eval``.

``conf/`` is found from the package (an absolute path), so the entry points work from any
current directory and through the wrappers ``src/run.py`` and ``src/eval.py`` alike.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import hydra
from omegaconf import DictConfig

from cost.training.config import CONFIG_DIR, quote_numeric_choices, register_resolvers


def hydra_main(task: Callable[[DictConfig], None], config_name: str) -> None:
    """Run ``task`` on the config ``conf/<config_name>.yaml`` plus the command line's overrides.

    Hydra names the job after the module that defines ``task`` (``run.log``, ``eval.log``).
    """
    register_resolvers()
    sys.argv[1:] = quote_numeric_choices(sys.argv[1:])  # frames=32 is a group choice, not an int
    hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name=config_name)(task)()
