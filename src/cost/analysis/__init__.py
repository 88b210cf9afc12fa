"""Analysis: results tables against the paper and coefficient figures (Sec. 4.5). The notebooks
import everything they use from here; the files of a run are read through ``cost.results``."""

from .paper import AUTHORS, PAPER, PAPER_VIEW_MEANS, TABLES, Published
from .tables import load_runs, results_table, run_title, table_title, to_csv, to_markdown, view_importance_runs
from .wandb_history import history

__all__ = [
    "AUTHORS",
    "PAPER",
    "PAPER_VIEW_MEANS",
    "TABLES",
    "Published",
    "history",
    "load_runs",
    "read_csv",
    "results_table",
    "run_title",
    "table_title",
    "to_csv",
    "to_markdown",
    "view_importance_runs",
    "view_means",
]


def __getattr__(name: str):
    """``read_csv`` and ``view_means`` (``cost.results.coefficients``), imported when first asked
    for: they need torch, which the tables do not."""
    if name in ("read_csv", "view_means"):
        from cost.results import coefficients

        return getattr(coefficients, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
