"""``python -m cost.analysis notebooks``: execute the analysis notebooks on finished runs
(``make notebooks``), with nbclient, so no Jupyter server or nbconvert is needed.

The notebooks read the run or sweep directories in ``COST_RUNS`` (os.pathsep-separated); the
executed copies, outputs and figures included, go to ``--out`` and the stored notebooks stay
without outputs.
"""

from __future__ import annotations

import os
from pathlib import Path

NOTEBOOK_DIR = Path(__file__).resolve().parents[3] / "notebooks"
NOTEBOOKS = ("coefficients", "results")


def execute(runs: list[Path], out_dir: Path, notebook_dir: Path = NOTEBOOK_DIR, timeout: int = 600) -> list[Path]:
    """Each notebook run top to bottom on ``runs``; returns the executed copies' paths."""
    import nbformat
    from nbclient import NotebookClient

    missing = [str(p) for p in runs if not Path(p).exists()]
    if missing:
        raise FileNotFoundError(f"no run or sweep directory at {', '.join(missing)}: set COST_RUNS or --runs")
    os.environ["COST_RUNS"] = os.pathsep.join(str(Path(p).resolve()) for p in runs)  # the kernel inherits it
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name in NOTEBOOKS:
        source = notebook_dir / f"{name}.ipynb"
        nb = nbformat.read(source, as_version=4)
        client = NotebookClient(
            nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(notebook_dir)}}
        )
        client.execute()
        target = out_dir / source.name
        nbformat.write(nb, target)
        written.append(target)
        print(f"executed {source} -> {target}", flush=True)
    return written
