"""Each annotation format on small files written in the official layout."""

from __future__ import annotations

import logging
import shutil

import numpy as np
import pytest

from cost.data import (
    Manifest,
    kinetics_class_names,
    read_class_folders,
    read_class_names,
    read_kinetics_csv,
    read_list_file,
    read_moments_categories,
    read_moments_csv,
)


@pytest.fixture
def clip(video_dir):
    return video_dir / "h264_nob.mkv"


def put(path, clip):
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(clip, path)


def test_kinetics_csv_flat_and_class_folders(tmp_path, clip):
    root = tmp_path / "k400"
    (root / "annotations").mkdir(parents=True)
    (root / "annotations" / "train.csv").write_text(
        "label,youtube_id,time_start,time_end,split\n"
        "arm wrestling,abc-123_XY,5,15,train\n"
        '"zumba",zzz,0,10,train\n'
        "abseiling,Q_q,130,140,train\n"
        "arm wrestling,gone,0,10,train\n"
    )
    (root / "annotations" / "validate.csv").write_text(
        "label,youtube_id,time_start,time_end,split\nzumba,vvv,20,30,val\n"
    )
    (root / "annotations" / "test.csv").write_text("youtube_id,time_start,time_end,split\nttt,1,11,test\n")
    put(root / "train" / "arm wrestling" / "abc-123_XY_000005_000015.mp4", clip)  # class folders
    put(root / "train" / "zumba" / "zzz_000000_000010.mkv", clip)
    put(root / "train" / "abseiling" / "Q_q_000130_000140.webm", clip)
    put(root / "val" / "vvv_000020_000030.mp4", clip)  # flat
    train = read_kinetics_csv(root / "annotations" / "train.csv", root / "train")
    assert train.class_names.tolist() == ["abseiling", "arm wrestling", "zumba"]
    assert train.labels.tolist() == [1, 2, 0, 1]
    assert train.relpath(0) == "arm wrestling/abc-123_XY_000005_000015.mp4"
    assert train.relpath(2) == "abseiling/Q_q_000130_000140.webm"
    assert train.exists().tolist() == [True, True, True, False]  # "gone" is listed but not on disk
    val = read_kinetics_csv(root / "annotations" / "validate.csv", root / "val", train.class_names)
    assert val.labels.tolist() == [2] and val.exists().all()
    assert val.class_names.tolist() == train.class_names.tolist()  # indices agree across splits
    test = read_kinetics_csv(root / "annotations" / "test.csv", root / "val", train.class_names)
    assert test.labels.tolist() == [-1]
    assert kinetics_class_names(root / "annotations" / "train.csv") == train.class_names.tolist()
    with pytest.raises(ValueError, match="no 'label' column"):
        kinetics_class_names(root / "annotations" / "test.csv")
    with pytest.raises(ValueError, match="not a known class"):
        read_kinetics_csv(root / "annotations" / "train.csv", root / "train", ["zumba"])


def test_moments_csv_and_categories(tmp_path, clip):
    root = tmp_path / "moments"
    root.mkdir()
    (root / "moments_categories.txt").write_text("clapping,1\nerupting,0\nwalking,2\n")
    (root / "trainingSet.csv").write_text(
        "clapping/yt-abc_12.mp4,clapping,3,0\nerupting/flickr-1-2.mp4,erupting,3,1\nwalking/x.mp4,walking,2,1\n"
    )
    (root / "validationSet.csv").write_text("erupting/v1.mp4,erupting,3,0\n")
    put(root / "training" / "clapping" / "yt-abc_12.mp4", clip)
    names = read_moments_categories(root / "moments_categories.txt")
    assert names == ["erupting", "clapping", "walking"]
    train = read_moments_csv(root / "trainingSet.csv", root / "training", names)
    assert train.labels.tolist() == [1, 0, 2]
    assert train.path(0) == str(root / "training" / "clapping" / "yt-abc_12.mp4")
    assert train.exists().tolist() == [True, False, False]
    with pytest.raises(FileNotFoundError, match=r"validation does not exist.*data.val_videos"):
        read_moments_csv(root / "validationSet.csv", root / "validation", names, videos_key="data.val_videos")
    (root / "validation").mkdir()
    val = read_moments_csv(root / "validationSet.csv", root / "validation", names)
    assert val.labels.tolist() == [0] and val.class_names.tolist() == names
    (root / "bad.csv").write_text("dancing/a.mp4,dancing,1,0\n")
    with pytest.raises(ValueError, match=r"bad.csv:1.*dancing"):
        read_moments_csv(root / "bad.csv", root / "training", names)


def test_list_file(tmp_path, clip):
    put(tmp_path / "vids" / "a b" / "one.mp4", clip)
    (tmp_path / "train.txt").write_text("# comment\nvids/a b/one.mp4 3\n\nvids/two.avi 0\n")
    m = read_list_file(tmp_path / "train.txt", tmp_path)
    assert m.relpath(0) == "vids/a b/one.mp4" and m.labels.tolist() == [3, 0]
    assert m.class_names.tolist() == ["0", "1", "2", "3"]
    assert m.exists().tolist() == [True, False]
    named = read_list_file(tmp_path / "train.txt", tmp_path, ["a", "b", "c", "d", "e"])
    assert named.class_names.tolist() == ["a", "b", "c", "d", "e"]
    (tmp_path / "bad.txt").write_text("vids/one.mp4 cat\n")
    with pytest.raises(ValueError, match=r"bad.txt:1"):
        read_list_file(tmp_path / "bad.txt", tmp_path)
    with pytest.raises(ValueError, match="outside"):
        read_list_file(tmp_path / "train.txt", tmp_path, ["a", "b"])


def test_class_folders(tmp_path, clip):
    for split, classes in (("train", ["walk", "jump", "clap"]), ("val", ["jump"])):
        for c in classes:
            put(tmp_path / split / c / f"{c}_1.mp4", clip)
            put(tmp_path / split / c / "sub" / f"{c}_2.avi", clip)
    (tmp_path / "train" / "jump" / "notes.txt").write_text("not a video")
    train = read_class_folders(tmp_path / "train")
    assert train.class_names.tolist() == ["clap", "jump", "walk"]
    assert len(train) == 6 and sorted(set(train.labels.tolist())) == [0, 1, 2]
    val = read_class_folders(tmp_path / "val", train.class_names)
    assert val.labels.tolist() == [1, 1]  # "jump" keeps its train index
    put(tmp_path / "other" / "swim" / "s.mp4", clip)
    with pytest.raises(ValueError, match="swim"):
        read_class_folders(tmp_path / "other", train.class_names)


def test_missing_annotation_names_path_and_key(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.csv.*data\.val_split"):
        read_kinetics_csv(tmp_path / "nope.csv", tmp_path, key="data.val_split")
    with pytest.raises(FileNotFoundError, match="data.categories"):
        read_moments_categories(tmp_path / "moments_categories.txt")


def test_manifest_arrays_and_list_round_trip(tmp_path):
    m = Manifest.from_lists(tmp_path, ["x/ä.mp4", "y.mp4"], [1, 0], ["a", "b"])
    assert m.paths.dtype.kind == "S" and m.labels.dtype == np.int64 and m.class_names.dtype.kind == "U"
    assert m.relpath(0) == "x/ä.mp4" and m.num_frames.tolist() == [-1, -1]
    m.write_list(tmp_path / "out.txt")
    back = read_list_file(tmp_path / "out.txt", tmp_path, ["a", "b"])
    assert [back.relpath(i) for i in range(2)] == ["x/ä.mp4", "y.mp4"] and back.labels.tolist() == [1, 0]
    assert len(m.subset(np.array([False, True]))) == 1


# ---------------------------------------------------------------- untrusted annotation files (issue 20)
BOM = "\ufeff"


def test_byte_order_mark_is_read_as_text_start(tmp_path, clip):
    """A spreadsheet's UTF-8 export starts with a BOM; it used to turn 'label' into an unknown column."""
    put(tmp_path / "v" / "abc_000001_000011.mp4", clip)
    csv_path = tmp_path / "train.csv"
    rows = "label,youtube_id,time_start,time_end,split\nzumba,abc,1,11,train\nabseiling,x,0,10,train\n"
    csv_path.write_text(BOM + rows)
    m = read_kinetics_csv(csv_path, tmp_path / "v")
    assert m.class_names.tolist() == ["abseiling", "zumba"] and m.labels.tolist() == [1, 0]
    assert kinetics_class_names(csv_path) == ["abseiling", "zumba"]
    (tmp_path / "list.txt").write_text(BOM + "v/abc_000001_000011.mp4 1\n")
    assert read_list_file(tmp_path / "list.txt", tmp_path).relpath(0) == "v/abc_000001_000011.mp4"
    (tmp_path / "classes.txt").write_text(BOM + "abseiling\nzumba\n")
    assert read_class_names(tmp_path / "classes.txt") == ["abseiling", "zumba"]
    (tmp_path / "cats.txt").write_text(BOM + "run,0\nsit,1\n")
    assert read_moments_categories(tmp_path / "cats.txt") == ["run", "sit"]


def test_list_labels_are_class_indices(tmp_path):
    (tmp_path / "neg.txt").write_text("a.mp4 0\nb.mp4 -1\n")
    with pytest.raises(ValueError, match=r"neg\.txt:2: label -1 is negative"):
        read_list_file(tmp_path / "neg.txt", tmp_path)
    (tmp_path / "sup.txt").write_text("a.mp4 \u00b3\n")  # a superscript 3 passes str.isdigit, not int()
    with pytest.raises(ValueError, match=r"sup\.txt:1: expected 'relative/path label_index'"):
        read_list_file(tmp_path / "sup.txt", tmp_path)
    (tmp_path / "val.txt").write_text("a.mp4 0\nb.mp4 5\n")
    with pytest.raises(ValueError, match=r"val\.txt:2: label 5 is outside the 3 classes .*\(0\.\.2\)"):
        read_list_file(tmp_path / "val.txt", tmp_path, ["a", "b", "c"])


@pytest.mark.parametrize(
    "body, message",
    [
        ("zumba,abc,1\n", r"train\.csv:2: the row has 3 of the 5 fields.*time_end,split"),
        ("zumba,abc,one,11,train\n", r"train\.csv:2: time 'one' is not a number of seconds"),
        ("zumba,abc,1,nan,train\n", r"train\.csv:2: time 'nan' is not a number of seconds"),
        ("zumba,abc,1,11,train\nzumba,d\xe9j\xe0,1,11,train\n", r"train\.csv:3: byte 0xe9 is not UTF-8"),
    ],
)
def test_malformed_kinetics_rows_name_file_and_line(tmp_path, body, message):
    data = b"label,youtube_id,time_start,time_end,split\n" + body.encode("latin-1")
    (tmp_path / "train.csv").write_bytes(data)
    with pytest.raises(ValueError, match=message):
        read_kinetics_csv(tmp_path / "train.csv", tmp_path)


def test_malformed_list_and_categories_name_file_and_line(tmp_path):
    (tmp_path / "list.txt").write_bytes(b"a.mp4 0\n\xff.mp4 1\n")
    with pytest.raises(ValueError, match=r"list\.txt:2: byte 0xff is not UTF-8 text; save the file as UTF-8"):
        read_list_file(tmp_path / "list.txt", tmp_path)
    (tmp_path / "cats.txt").write_text("run,0\nsit,one\n")
    with pytest.raises(ValueError, match=r"cats\.txt:2: expected 'name,index'"):
        read_moments_categories(tmp_path / "cats.txt")


def test_duplicate_rows_are_dropped_with_a_warning(tmp_path, caplog):
    (tmp_path / "list.txt").write_text("a.mp4 0\nb.mp4 1\n./a.mp4 0\nb.mp4 1\nc.mp4 1\n")
    with caplog.at_level(logging.WARNING, logger="cost.data"):
        m = read_list_file(tmp_path / "list.txt", tmp_path)
    assert [m.relpath(i) for i in range(len(m))] == ["a.mp4", "b.mp4", "c.mp4"] and m.labels.tolist() == [0, 1, 1]
    assert "lists 2 video(s) more than once" in caplog.text
    assert f"{tmp_path / 'list.txt'}:3, {tmp_path / 'list.txt'}:4" in caplog.text
    (tmp_path / "k.csv").write_text(
        "label,youtube_id,time_start,time_end,split\nzumba,abc,1,11,train\nzumba,abc,1.0,11,train\n"
    )
    with caplog.at_level(logging.WARNING, logger="cost.data"):
        assert len(read_kinetics_csv(tmp_path / "k.csv", tmp_path)) == 1
    assert f"{tmp_path / 'k.csv'}:3" in caplog.text


def test_one_video_with_two_labels_is_refused(tmp_path):
    (tmp_path / "list.txt").write_text("a.mp4 0\nb.mp4 1\na.mp4 1\n")
    with pytest.raises(ValueError, match=r"list\.txt:3: a\.mp4 is listed again with label '1', but line 1 .*'0'"):
        read_list_file(tmp_path / "list.txt", tmp_path)
    (tmp_path / "cats.txt").write_text("run,0\nsit,1\n")
    (tmp_path / "m.csv").write_text("run/a.mp4,run,3,0\nrun/a.mp4,sit,3,0\n")
    with pytest.raises(ValueError, match=r"m\.csv:2: run/a\.mp4 is listed again with label 'sit', but line 1"):
        read_moments_csv(tmp_path / "m.csv", tmp_path, read_moments_categories(tmp_path / "cats.txt"))
