"""Analysis: results tables against the paper and coefficient figures (Sec. 4.5)."""

from .paper import AUTHORS, PAPER, PAPER_VIEW_MEANS, TABLES, Published
from .tables import load_runs, results_table, to_csv, to_markdown

__all__ = [
    "AUTHORS",
    "PAPER",
    "PAPER_VIEW_MEANS",
    "TABLES",
    "Published",
    "load_runs",
    "results_table",
    "to_csv",
    "to_markdown",
]
