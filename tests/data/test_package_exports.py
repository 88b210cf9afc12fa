"""`cost.data` names every export in plain imports, and importing it does not load torch."""

import ast
import subprocess
import sys
from pathlib import Path

import cost.data


def test_import_loads_no_torch_and_every_export_resolves():
    code = (
        "import sys, cost.data as d\n"
        "assert 'torch' not in sys.modules, 'import cost.data loaded torch'\n"
        "missing = [n for n in d.__all__ if getattr(d, n, None) is None]\n"
        "assert not missing, missing\n"
        "assert 'pytorch_lightning' in sys.modules  # the DataModule loaded on first use\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_every_export_is_imported_by_name_for_editors():
    """Each name loaded on first use also appears in a (TYPE_CHECKING) import that editors follow."""
    tree = ast.parse(Path(cost.data.__file__).read_text())
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.level == 1
        for alias in node.names
    }
    assert set(cost.data.__all__) <= imported
    assert len(cost.data.__all__) == len(set(cost.data.__all__))
