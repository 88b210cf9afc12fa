"""Issue 11: a video whose listed frames do not all decode is bad data at every stage.

Train: counted and replaced (every time it is drawn); val/test: skipped and named;
data.strict=true: an error naming the file in every split, training included.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from cost.data import Manifest, VideoClipDataset
from tests.helpers.data import encode, pattern_frames, pyav_reference


def keep_frames(frames, rng):
    """Identity transform: the dataset hands back the decoded frames themselves."""
    return frames


@pytest.fixture()
def cut_and_good(tmp_path, cut_faststart, video_dir):
    shutil.copyfile(cut_faststart, tmp_path / "cut.mp4")
    shutil.copyfile(video_dir / "h264_long_gop.mp4", tmp_path / "good.mp4")
    return Manifest.from_lists(tmp_path, ["cut.mp4", "good.mp4"], [0, 1], ["a", "b"])


def test_train_replaces_and_counts_the_cut_video_every_time(cut_and_good):
    ds = VideoClipDataset(cut_and_good, "train", keep_frames, num_frames=8, stride=8)
    torch.manual_seed(0)
    for _ in range(5):
        before = ds.replacements
        item = ds[0]
        assert item["index"] == 1 and item["label"] == 1  # the good video came instead
        assert ds.replacements > before  # counted each time (more if the retry drew it again)


def test_strict_covers_training(cut_and_good):
    ds = VideoClipDataset(cut_and_good, "train", keep_frames, num_frames=8, stride=8, strict=True)
    with pytest.raises(RuntimeError, match="data.strict=true") as err:
        ds[0]
    assert cut_and_good.path(0) in str(err.value) and "cut short" in str(err.value)
    assert ds[1]["index"] == 1


@pytest.mark.parametrize("mode", ["val", "test"])
def test_eval_skips_and_names_the_cut_video(cut_and_good, mode):
    ds = VideoClipDataset(cut_and_good, mode, keep_frames, num_frames=8, stride=8, test_clips=2)
    assert ds[0] == {"skipped": cut_and_good.path(0), "index": 0}
    assert "clips" in ds[1]
    strict = VideoClipDataset(cut_and_good, mode, keep_frames, num_frames=8, stride=8, test_clips=2, strict=True)
    with pytest.raises(RuntimeError, match="data.strict=true"):
        strict[0]


@pytest.mark.parametrize("short_video", ["loop", "repeat"])
def test_short_videos_are_not_bad_data(tmp_path, short_video):
    """20 frames < an 8 x 8 window: every stage reads it, nothing is replaced or skipped."""
    encode(tmp_path / "short.mp4", pattern_frames(20, seed=2), options={"bf": "2", "g": "8"})
    ref = torch.from_numpy(pyav_reference(tmp_path / "short.mp4"))
    m = Manifest.from_lists(tmp_path, ["short.mp4"], [0], ["a"])
    torch.manual_seed(0)
    train = VideoClipDataset(m, "train", keep_frames, num_frames=8, stride=8, short_video=short_video)
    for _ in range(4):
        clip = train[0]["clips"]
        assert clip.shape[0] == 8 and any(torch.equal(clip[0], f) for f in ref)
    assert train.replacements == 0
    val = VideoClipDataset(m, "val", keep_frames, num_frames=8, stride=8, short_video=short_video)
    expected = np.arange(0, 64, 8) % 20 if short_video == "loop" else np.minimum(np.arange(0, 64, 8), 19)
    assert torch.equal(val[0]["clips"], ref[expected])
