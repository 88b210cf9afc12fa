"""Which reader builds each split (`SplitFiles`) and what happens to videos missing on disk."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from cost.data import Manifest, VideoDataModule
from cost.data.splits import SplitFiles, drop_missing


def _files(root: Path, format: str = "list", **splits) -> SplitFiles:
    names = {"train": "train.txt", "val": "val.txt", "test": None, **splits}
    return SplitFiles(format, root, names, {"train": "", "val": "", "test": ""}, None, None)


def test_a_list_without_class_names_has_classes_up_to_its_largest_training_label(tmp_path):
    (tmp_path / "train.txt").write_text("a.mp4 0\nb.mp4 4\n")
    (tmp_path / "val.txt").write_text("c.mp4 2\n")
    files = _files(tmp_path)
    assert files.class_names() == ["0", "1", "2", "3", "4"]
    val = files.read("val", files.class_names())
    assert val.labels.tolist() == [2] and val.path(0) == str(tmp_path / "c.mp4")
    with pytest.raises(ValueError, match=r"data\.test_split is not set"):
        files.read("test", None)
    with pytest.raises(ValueError, match="data.format"):
        _files(tmp_path, format="ucf")


def test_missing_videos_leave_training_and_are_kept_for_evaluation(tmp_path, caplog):
    (tmp_path / "a.mp4").write_bytes(b"")
    m = Manifest(str(tmp_path), ["a.mp4", "gone.mp4"], [0, 1], ["x", "y"])
    with caplog.at_level(logging.WARNING, logger="cost.data"):
        train, missing = drop_missing("train", m, strict=False)
        val, _ = drop_missing("val", m, strict=False)
    assert len(train) == 1 and len(val) == 2 and missing == [str(tmp_path / "gone.mp4")]
    assert "1 of 2 videos listed for the train split are missing on disk" in caplog.text
    with pytest.raises(FileNotFoundError, match="data.strict=true"):
        drop_missing("val", m, strict=True)


def test_unlabelled_kinetics_split_stops_setup(tmp_path):
    root = tmp_path / "k"
    (root / "train").mkdir(parents=True)
    (root / "train.csv").write_text("label,youtube_id,time_start,time_end,split\nzumba,a,0,10,train\n")
    (root / "test.csv").write_text("youtube_id,time_start,time_end,split\nb,0,10,test\n")
    dm = VideoDataModule(format="kinetics", root=str(root), train_split="train.csv", test_split="test.csv")
    with pytest.raises(ValueError, match=r"test\.csv has no 'label' column.*data\.test_split needs a labelled"):
        dm.setup("test")
