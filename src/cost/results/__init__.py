"""What a run leaves in its directory, read and written in one place below ``training`` and
``analysis`` (both import it; it imports neither): ``results.json`` (``runs``), the saved data
config (``runs.saved_config``), the coefficient statistics and typed CSV files (``coefficients``),
the prediction files (``predictions``) and the figures a test writes (``figures``).

Only ``runs`` is imported here (no torch): the sweep driver reads results.json with it."""

from .runs import COMPLETE, RESULTS, run_type, saved_config, saved_max_steps, stamp, steps_to_finish, unfinished

__all__ = [
    "COMPLETE",
    "RESULTS",
    "run_type",
    "saved_config",
    "saved_max_steps",
    "stamp",
    "steps_to_finish",
    "unfinished",
]
