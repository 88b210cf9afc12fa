"""predict.py takes its clip settings from the checkpoint it loads."""

from __future__ import annotations

import pytest


def test_predict_takes_the_clip_settings_from_the_checkpoint(tiny_run):
    from cost.predict import clip_settings, load_classifier

    _, rec, _ = tiny_run
    _, _, model_cfg, clip = load_classifier(rec["checkpoint"])
    assert model_cfg["pool1_kernel"] == [1, 3, 3] and clip["frame_stride"] == 2 and clip["test_short_side"] == 40
    assert clip_settings(clip, None, None, None) == {"num_frames": 8, "frame_stride": 2, "test_short_side": 40}
    with pytest.raises(SystemExit, match="--stride 4"):
        clip_settings(clip, None, 4, None)
