"""The one reader of a run's saved config.yaml (``cost.results.saved_config``): eval.py takes
the run's data from it, ``python -m cost.analysis views`` the whole config, with the same checks."""

from __future__ import annotations

import pytest
import yaml

from cost.analysis.views import DATA_TARGET, run_config
from cost.results import saved_config

DATA = {"_target_": DATA_TARGET, "root": "/data/synthetic", "num_frames": 8, "train_split": ["a.txt", "b.txt"]}


def _write(run_dir, config) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config))


def test_a_plain_saved_config_reads_back_whole(tmp_path):
    config = {"data": DATA, "trainer": {"max_steps": 300}, "eval_chunk": 0}
    _write(tmp_path, config)
    assert saved_config(tmp_path / "config.yaml", DATA_TARGET) == config
    assert run_config(tmp_path) == config  # the views command reads it with the same function


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (None, "it has no data section"),
        ({}, "it has no data section"),
        ({**DATA, "_target_": "my.DataModule"}, "data._target_='my.DataModule'; a data module is built by"),
        ({**DATA, "transform": {"_target_": "os.system"}}, "data.transform._target_='os.system': a data config"),
        ({**DATA, "root": "${oc.env:HOME}"}, r"data.root holds the interpolation '\$\{oc.env:HOME\}'"),
        ({**DATA, "train_split": ["a.txt", {"x": 1}]}, "data.train_split holds a list holding a mapping"),
    ],
)
def test_a_saved_data_section_that_is_not_plain_data_is_refused_by_both_readers(tmp_path, data, reason):
    _write(tmp_path, {"trainer": {}} if data is None else {"data": data, "trainer": {}})
    with pytest.raises(ValueError, match=reason):
        saved_config(tmp_path / "config.yaml", DATA_TARGET)
    with pytest.raises(ValueError, match=f"config.yaml: {reason}.*the analysis builds {DATA_TARGET} only"):
        run_config(tmp_path)


def test_the_views_command_names_a_folder_that_is_no_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="RUN_DIR must be a run directory written by src/run.py"):
        run_config(tmp_path)
