"""A batch larger than the training split is named with the split's size and where it comes
from (``cost.training.preflight_data``)."""

from __future__ import annotations

from cost.training.preflight_data import _batch_vs_split
from tests.helpers.training import compose_cfg


def _cfg(*overrides: str):
    return compose_cfg(["paths.output_dir=x", *overrides])


def test_a_batch_larger_than_the_training_split_is_named(data_dir, tmp_path):
    problems = _batch_vs_split(_cfg(f"paths.data_dir={tmp_path}", "data.batch_size=100000"))  # not generated yet
    assert problems == [
        "data.batch_size=100000 x 1 process(es) is more clips than the training split has (480 videos at most, "
        "from data.synthetic.num_train): set data.batch_size to at most 480"
    ]
    generated = f"paths.data_dir={data_dir}"
    assert _batch_vs_split(_cfg(generated, "data.batch_size=480")) == []
    assert (
        "480 videos at most, from the 480 lines of data.train_split=train.txt"
        in (_batch_vs_split(_cfg(generated, "data.batch_size=481"))[0])
    )
    assert "at most 160" in _batch_vs_split(_cfg(generated, "data.batch_size=200", "trainer.devices=3"))[0]
    assert _batch_vs_split(_cfg(generated, "data.batch_size=200", "trainer.devices=[0,3]")) == []  # 2 processes
    # A file format: the annotation file's lines bound the split (here the synthetic set as a list).
    root = data_dir / "synthetic"
    (tmp_path / "train1.txt").write_text((root / "train.txt").read_text().splitlines()[0] + "\n\n\n")
    listed = ["data=list", f"data.root={root}", f"data.train_split={tmp_path / 'train1.txt'}"]
    assert "from the 1 lines of data.train_split=" in _batch_vs_split(_cfg(*listed, "data.batch_size=2"))[0]
    own = [generated, f"data.train_split={tmp_path / 'train1.txt'}"]  # the synthetic set, a split of its own
    assert "from the 1 lines of data.train_split=" in _batch_vs_split(_cfg(*own, "data.batch_size=2"))[0]
