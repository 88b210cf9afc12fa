"""VideoDataModule on real files: batches, worker processes, sharding, bad data, configs."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
import torch
from torch.utils.data import DistributedSampler

from cost.data import ExactShardSampler, VideoDataModule
from cost.data.synthetic import CLASS_NAMES
from tests.helpers.data import SMALL as SMALL_DEVICE
from tests.helpers.data import SMALL_SYNTHETIC

SMALL = dict(SMALL_DEVICE, flip=False, test_crops=1)  # the device tests' clips, unflipped, one crop


def make_dm(root, **kw) -> VideoDataModule:
    args = dict(format="synthetic", root=str(root), num_workers=0, synthetic=SMALL_SYNTHETIC, **SMALL)
    args.update(kw)
    return VideoDataModule(**args)


def test_synthetic_batches_with_two_workers(synthetic_root):
    dm = make_dm(synthetic_root, num_workers=2)
    dm.prepare_data()
    dm.setup("fit")
    assert dm.num_classes == 16 and dm.class_names == CLASS_NAMES
    labels = dm.manifests["train"].labels
    batches = list(dm.train_dataloader())
    assert len(batches) == 32 // 4
    seen = torch.cat([b["index"] for b in batches])
    assert sorted(seen.tolist()) == list(range(32))  # one epoch = every training video once
    for b in batches:
        assert set(b) == {"clips", "label", "index"}
        assert b["clips"].shape == (4, 3, 8, 40, 40) and b["clips"].dtype == torch.float32
        assert b["label"].dtype == torch.int64 and b["index"].dtype == torch.int64
        assert (b["label"].numpy() == labels[b["index"].numpy()]).all()
        assert torch.isfinite(b["clips"]).all() and b["clips"].std() > 0.1
    val = list(dm.val_dataloader())
    assert sum(len(b["label"]) for b in val) == 16
    assert val[0]["clips"].shape == (4, 3, 8, 32, 32) and val[0]["skipped"] == []


def test_test_loader_returns_all_views_of_a_video(synthetic_root):
    dm = make_dm(synthetic_root, test_crops=3, num_workers=2)
    dm.setup("test")
    batches = list(dm.test_dataloader())
    b = batches[0]
    assert b["clips"].shape == (2, 3 * 3, 3, 8, 40, 40)  # V = 3 clips x 3 crops, all views together
    assert sorted(torch.cat([b["index"] for b in batches]).tolist()) == list(range(12))
    assert all(b["skipped"] == [] for b in batches)
    full = make_dm(synthetic_root, test_crops=1)
    full.setup("test")
    fb = next(iter(full.test_dataloader()))
    assert fb["clips"].shape == (2, 3, 3, 8, 40, 53)  # full frame: 64x48 scaled to short side 40
    # the middle crop of the 3-crop view equals the centre of the full frame, clip by clip
    assert torch.allclose(b["clips"][0, 1], fb["clips"][0, 0, ..., 6:46], atol=1e-6)


def test_val_and_test_are_deterministic(synthetic_root):
    """Two data modules (fresh torch seeds between them) give the same val and test batches."""
    outs = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        dm = make_dm(synthetic_root)
        dm.setup("fit")
        dm.setup("test")
        val, test = list(dm.val_dataloader()), list(dm.test_dataloader())
        outs.append(
            (
                torch.cat([b["clips"] for b in val]),
                torch.cat([b["clips"] for b in test]),
                torch.cat([b["index"] for b in test]),
            )
        )
    assert torch.equal(outs[0][0], outs[1][0])
    assert torch.equal(outs[0][1], outs[1][1]) and torch.equal(outs[0][2], outs[1][2])
    assert outs[0][1].shape[:2] == (12, 3)  # every test video with its 3 views


def test_train_is_deterministic_under_a_seed(synthetic_root):
    runs = []
    for _ in range(2):
        torch.manual_seed(123)
        dm = make_dm(synthetic_root, train_short_side=(40, 56))
        dm.setup("fit")
        runs.append(next(iter(dm.train_dataloader())))
    assert torch.equal(runs[0]["index"], runs[1]["index"]) and torch.equal(runs[0]["clips"], runs[1]["clips"])


def _ddp_worker(rank, world, store_path, root, out_dir):
    torch.distributed.init_process_group("gloo", init_method=f"file://{store_path}", rank=rank, world_size=world)
    try:
        dm = make_dm(root, test_batch_size=2)
        dm.setup("test")
        loader = dm.test_dataloader()
        assert isinstance(loader.sampler, ExactShardSampler)
        seen = torch.cat([b["index"] for b in loader]).tolist()
        Path(out_dir, f"rank{rank}.txt").write_text(" ".join(map(str, seen)))
        dm.setup("fit")
        train = dm.train_dataloader()
        assert isinstance(train.sampler, DistributedSampler) and train.sampler.shuffle
        train_seen = torch.cat([b["index"] for b in train]).tolist()
        Path(out_dir, f"train{rank}.txt").write_text(" ".join(map(str, train_seen)))
    finally:
        torch.distributed.destroy_process_group()


@pytest.mark.slow
def test_test_loader_under_real_ddp_covers_every_video_once(synthetic_root, tmp_path):
    world = 2
    torch.multiprocessing.spawn(
        _ddp_worker, args=(world, str(tmp_path / "store"), str(synthetic_root), str(tmp_path)), nprocs=world, join=True
    )
    per_rank = [list(map(int, (tmp_path / f"rank{r}.txt").read_text().split())) for r in range(world)]
    assert not set(per_rank[0]) & set(per_rank[1])
    assert sorted(per_rank[0] + per_rank[1]) == list(range(12))
    train = [list(map(int, (tmp_path / f"train{r}.txt").read_text().split())) for r in range(world)]
    assert len(train[0]) == len(train[1]) == 16 and not set(train[0]) & set(train[1])  # each rank its own half


# ---------------------------------------------------------------- bad data
@pytest.fixture
def dirty_root(tmp_path, synthetic_root, bad_videos):
    """A list-format dataset: 8 good synthetic videos plus unreadable and missing ones."""
    root = tmp_path / "dirty"
    lines, bad = [], []
    for line in (synthetic_root / "train.txt").read_text().splitlines()[:8]:
        rel, label = line.rsplit(maxsplit=1)
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(synthetic_root / rel, root / rel)
        lines.append(line)
    for path in bad_videos.values():
        (root / "bad").mkdir(exist_ok=True)
        shutil.copyfile(path, root / "bad" / path.name)
        lines.append(f"bad/{path.name} 1")
        bad.append(str(root / "bad" / path.name))
    (root / "train.txt").write_text("\n".join(lines) + "\n")
    (root / "val.txt").write_text("\n".join(lines + ["gone/missing.mp4 2"]) + "\n")
    (root / "classes.txt").write_text("\n".join(CLASS_NAMES) + "\n")
    return root, bad


def dirty_dm(root, **kw):
    args = dict(
        format="list", class_names="classes.txt", train_split="train.txt", val_split="val.txt", test_split="val.txt"
    )
    args.update(kw)
    return make_dm(root, **args)


def test_train_replaces_unreadable_videos(dirty_root, caplog):
    root, bad = dirty_root
    dm = dirty_dm(root, batch_size=12)
    dm.setup("fit")
    ds = dm.datasets["train"]
    with caplog.at_level(logging.WARNING, logger="cost.data"):
        batch = next(iter(dm.train_dataloader()))  # the whole split in one batch
    assert batch["clips"].shape[0] == 12 and torch.isfinite(batch["clips"]).all()
    good = {i for i in range(len(ds)) if not ds.manifest.path(i).startswith(str(root / "bad"))}
    assert set(batch["index"].tolist()) <= good  # only readable videos come out
    assert ds.replacements >= len(bad)
    logged = " ".join(r.getMessage() for r in caplog.records)
    for path in bad:
        assert path in logged and "replacing unreadable training video" in logged


def test_train_retries_are_bounded(dirty_root):
    root, bad = dirty_root
    (root / "only_bad.txt").write_text("".join(f"{Path(p).relative_to(root)} 0\n" for p in bad))
    dm = dirty_dm(root, train_split="only_bad.txt", max_retries=3)
    dm.setup("fit")
    with pytest.raises(RuntimeError, match=r"4 unreadable training videos in a row.*data.max_retries"):
        dm.datasets["train"][0]
    assert dm.datasets["train"].replacements == 4


@pytest.mark.parametrize("split", ["val", "test"])
def test_eval_skips_and_reports_unreadable_videos(dirty_root, split, caplog):
    root, bad = dirty_root
    dm = dirty_dm(root, val_batch_size=5, test_batch_size=5, num_workers=2)
    with caplog.at_level(logging.WARNING, logger="cost.data"):
        dm.setup("fit" if split == "val" else "test")
    missing = str(root / "gone" / "missing.mp4")
    assert dm.missing[split] == [missing]  # counted and reported at setup
    assert f"1 of 13 videos listed for the {split} split are missing" in caplog.text
    loader = dm.val_dataloader() if split == "val" else dm.test_dataloader()
    batches = list(loader)
    skipped = [p for b in batches for p in b["skipped"]]
    assert sorted(skipped) == sorted(bad + [missing])  # never replaced, every one named
    assert sum(len(b["label"]) for b in batches) == 8
    for b in batches:
        assert b["clips"].shape[0] == len(b["label"]) == len(b["index"])
    all_bad = [b for b in batches if len(b["label"]) == 0]
    assert all_bad and all_bad[0]["clips"].shape[0] == 0  # N may be 0 when every video was skipped


def test_strict_makes_bad_data_an_error(dirty_root):
    root, _ = dirty_root
    with pytest.raises(FileNotFoundError, match="data.strict"):
        dirty_dm(root, strict=True).setup("fit")  # the missing listed video
    (root / "val_no_missing.txt").write_text("\n".join((root / "train.txt").read_text().splitlines()) + "\n")
    dm = dirty_dm(root, strict=True, val_split="val_no_missing.txt")
    dm.setup("fit")
    with pytest.raises(RuntimeError, match="data.strict=true"):
        list(dm.val_dataloader())


def test_missing_root_and_annotation_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nowhere.*data\.root"):
        VideoDataModule(format="kinetics", root=str(tmp_path / "nowhere")).setup("fit")
    (tmp_path / "k").mkdir()
    with pytest.raises(FileNotFoundError, match=r"train\.csv.*data\.train_split"):
        VideoDataModule(format="kinetics", root=str(tmp_path / "k"), train_split="train.csv").setup("fit")
    with pytest.raises(ValueError, match="data.format"):
        VideoDataModule(format="ucf")


def test_missing_train_videos_are_dropped(dirty_root, caplog):
    root, _ = dirty_root
    (root / "train_missing.txt").write_text((root / "train.txt").read_text() + "gone/a.mp4 0\ngone/b.mp4 0\n")
    dm = dirty_dm(root, train_split="train_missing.txt")
    with caplog.at_level(logging.WARNING, logger="cost.data"):
        dm.setup("fit")
    assert len(dm.missing["train"]) == 2 and len(dm.manifests["train"]) == 12
    assert "2 of 14 videos listed for the train split are missing" in caplog.text


# ---------------------------------------------------------------- real-dataset formats
def _copy_synthetic(synthetic_root, dst, rel_index):
    rel = (synthetic_root / "train.txt").read_text().splitlines()[rel_index].rsplit(maxsplit=1)[0]
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(synthetic_root / rel, dst)


def test_kinetics_and_moments_datamodules(tmp_path, synthetic_root):
    k = tmp_path / "k400"
    (k / "annotations").mkdir(parents=True)
    rows_train = [("zumba", "a1", 0, 10), ("abseiling", "b2", 5, 15), ("zumba", "c3", 1, 11), ("bowling", "d4", 2, 12)]
    rows_val = [("bowling", "e5", 0, 10), ("zumba", "f6", 3, 13)]
    for split, rows in (("train", rows_train), ("validate", rows_val)):
        text = "label,youtube_id,time_start,time_end,split\n"
        for j, (label, yid, s, e) in enumerate(rows):
            text += f"{label},{yid},{s},{e},{split}\n"
            folder = k / ("train" if split == "train" else "val") / (label if split == "train" else "")
            _copy_synthetic(synthetic_root, folder / f"{yid}_{s:06d}_{e:06d}.mp4", j)
        (k / "annotations" / f"{split}.csv").write_text(text)
    dm = VideoDataModule(
        format="kinetics",
        root=str(k),
        train_split="annotations/train.csv",
        val_split="annotations/validate.csv",
        test_split="annotations/validate.csv",
        train_videos="train",
        val_videos="val",
        test_videos="val",
        num_workers=0,
        **{**SMALL, "batch_size": 2},
    )
    dm.setup("fit")
    assert dm.class_names == ["abseiling", "bowling", "zumba"] and dm.num_classes == 3
    assert dm.manifests["val"].labels.tolist() == [1, 2]  # val uses the train mapping
    assert next(iter(dm.train_dataloader()))["clips"].shape == (2, 3, 8, 40, 40)
    dm.setup("test")
    t = next(iter(dm.test_dataloader()))
    assert t["label"].tolist() == [1, 2] and t["skipped"] == []

    m = tmp_path / "moments"
    (m / "moments_categories.txt").parent.mkdir(parents=True)
    (m / "moments_categories.txt").write_text("running,1\nerupting,0\n")
    (m / "trainingSet.csv").write_text("running/r1.mp4,running,3,0\nerupting/e1.mp4,erupting,2,1\n")
    (m / "validationSet.csv").write_text("erupting/e2.mp4,erupting,3,0\n")
    for rel, j in (("training/running/r1.mp4", 0), ("training/erupting/e1.mp4", 1), ("validation/erupting/e2.mp4", 2)):
        _copy_synthetic(synthetic_root, m / rel, j)
    dm = VideoDataModule(
        format="moments",
        root=str(m),
        train_split="trainingSet.csv",
        val_split="validationSet.csv",
        test_split="validationSet.csv",
        train_videos="training",
        val_videos="validation",
        test_videos="validation",
        categories="moments_categories.txt",
        num_workers=0,
        **{**SMALL, "batch_size": 2},
    )
    dm.setup("fit")
    assert dm.class_names == ["erupting", "running"]
    b = next(iter(dm.train_dataloader()))
    assert sorted(b["label"].tolist()) == [0, 1]
    assert next(iter(dm.val_dataloader()))["label"].tolist() == [0]


def test_folder_datamodule(tmp_path, synthetic_root):
    for split, names in (("train", ["walk", "jump", "walk", "jump"]), ("val", ["jump"])):
        for j, c in enumerate(names):
            _copy_synthetic(synthetic_root, tmp_path / split / c / f"{j}.mp4", j)
    dm = VideoDataModule(
        format="folder",
        root=str(tmp_path),
        train_split="train",
        val_split="val",
        test_split="val",
        num_workers=0,
        **{**SMALL, "batch_size": 2},
    )
    dm.setup("fit")
    assert dm.class_names == ["jump", "walk"]
    assert next(iter(dm.val_dataloader()))["label"].tolist() == [0]


# ---------------------------------------------------------------- untrusted labels and frames (issue 20)
def _list_root(tmp_path, synthetic_root, n=6):
    """A list-format root with `n` synthetic training videos; returns (root, their lines)."""
    root = tmp_path / "lists"
    lines = []
    for line in (synthetic_root / "train.txt").read_text().splitlines()[:n]:
        rel, label = line.rsplit(maxsplit=1)
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(synthetic_root / rel, root / rel)
        lines.append(line)
    return root, lines


def test_val_label_outside_the_training_classes_stops_setup(tmp_path, synthetic_root):
    root, lines = _list_root(tmp_path, synthetic_root)
    train = [f"{line.rsplit(maxsplit=1)[0]} {i % 3}" for i, line in enumerate(lines)]  # classes 0..2
    (root / "train.txt").write_text("\n".join(train) + "\n")
    (root / "val.txt").write_text(f"{train[0]}\n{train[1].rsplit(maxsplit=1)[0]} 7\n")
    dm = make_dm(root, format="list", train_split="train.txt", val_split="val.txt", test_split="val.txt")
    with pytest.raises(ValueError, match=r"val\.txt:2: label 7 is outside the 3 classes of the training split"):
        dm.setup("fit")
    (root / "train.txt").write_text("\n".join([*train, f"{train[0].rsplit(maxsplit=1)[0]}x.mp4 -1"]) + "\n")
    with pytest.raises(ValueError, match=r"train\.txt:7: label -1 is negative"):  # was an IndexError mid-training
        make_dm(root, format="list", train_split="train.txt", val_split="train.txt").setup("fit")


def test_frames_over_max_frame_pixels_are_swapped_in_training_and_named_in_evaluation(tmp_path, synthetic_root, caplog):
    from tests.helpers.data import encode_grey

    root, lines = _list_root(tmp_path, synthetic_root)  # 64x48 videos: 3072 pixels
    encode_grey(root / "big.mp4", 96, 96, n=40)  # 9216 pixels
    (root / "train.txt").write_text("\n".join([*lines, "big.mp4 0"]) + "\n")
    dm = make_dm(
        root, format="list", train_split="train.txt", val_split="train.txt", batch_size=7, max_frame_pixels=64 * 64
    )
    dm.setup("fit")
    with caplog.at_level(logging.WARNING, logger="cost.data"):
        batch = next(iter(dm.train_dataloader()))
    big = str(root / "big.mp4")
    assert batch["clips"].shape[0] == 7 and 6 not in batch["index"].tolist()  # swapped for another video
    assert dm.datasets["train"].replacements >= 1  # and counted
    assert f"replacing unreadable training video {big}" in caplog.text
    assert "96x96 = 9216 pixels, more than data.max_frame_pixels=4096" in caplog.text
    skipped = [p for b in dm.val_dataloader() for p in b["skipped"]]
    assert skipped == [big]  # evaluation names it
    with pytest.raises(ValueError, match="data.max_frame_pixels must be a whole number >= 1"):
        make_dm(root, max_frame_pixels=0)


def test_a_directory_with_a_video_name_is_called_a_directory(tmp_path, synthetic_root, caplog):
    root, lines = _list_root(tmp_path, synthetic_root, n=4)
    (root / "x.mp4").mkdir()
    (root / "train.txt").write_text("\n".join([*lines, "x.mp4 0"]) + "\n")
    with caplog.at_level(logging.WARNING, logger="cost.data"):
        make_dm(root, format="list", train_split="train.txt", val_split="train.txt").setup("fit")
    assert f"1 of 5 videos listed for the train split are missing on disk (first: {root / 'x.mp4'}; " in caplog.text
    assert f"1 of them are directories, first: {root / 'x.mp4'})" in caplog.text
