"""The whole data path where decord is not installed (macOS, Linux aarch64).

decord is made unimportable in a subprocess by a `sitecustomize` meta-path finder that raises
ImportError for it, the way Python behaves where the package is absent (DataLoader workers
inherit it). The default backend never needs it, and its clips must equal those of a run that
decodes with decord by name: for the H.264 MP4 files of the synthetic set the two return the
same frames.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import torch

from tests.helpers.data import SMALL_SYNTHETIC

BLOCKER = """
import sys

class _NoDecord:
    def find_spec(self, name, path=None, target=None):
        if name == "decord" or name.startswith("decord."):
            raise ImportError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, _NoDecord())
"""

# Datamodule -> train (2 worker processes), val and test clips, saved for comparison.
DATA_PATH = """
import logging, sys
import torch
from cost.data import VideoDataModule
from cost.data.decode import Video

logging.basicConfig(level=logging.INFO, format="LOG %(name)s %(levelname)s %(message)s")
root, out, synthetic, backend = sys.argv[1], sys.argv[2], eval(sys.argv[3]), sys.argv[4]
dm = VideoDataModule(format="synthetic", root=root, synthetic=synthetic, num_frames=8, frame_stride=4,
                     train_short_side=(40, 48), train_crop=40, flip=False, val_short_side=40, val_crop=32,
                     test_short_side=40, test_clips=3, test_crops=1, batch_size=4, test_batch_size=2,
                     num_workers=2, decode_backend=backend)
dm.setup()
torch.manual_seed(7)
train = next(iter(dm.train_dataloader()))
val = list(dm.val_dataloader())
test = list(dm.test_dataloader())
with Video(dm.manifests["train"].path(0), backend=backend) as v:
    used = v.backend
decord_imported = "decord" in sys.modules
try:
    VideoDataModule(format="synthetic", root=root, decode_backend="decord")
    named = "accepted"
except ImportError as e:
    named = str(e)
torch.save({"train": train, "val": val, "test": test, "backend": used, "named": named,
            "decord_imported": decord_imported}, out)
"""


def _run(tmp_path: Path, root: Path, name: str, block: bool, backend: str = "auto") -> tuple[dict, str]:
    site = tmp_path / f"site_{name}"
    site.mkdir()
    if block:
        (site / "sitecustomize.py").write_text(BLOCKER)
    script = tmp_path / "data_path.py"
    script.write_text(textwrap.dedent(DATA_PATH))
    out = tmp_path / f"{name}.pt"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run(
        [sys.executable, str(script), str(root), str(out), repr(SMALL_SYNTHETIC), backend],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return torch.load(out, weights_only=False), proc.stderr


def test_data_path_without_decord_matches_decord(tmp_path, synthetic_root):
    without, log = _run(tmp_path, synthetic_root, "without", block=True)
    assert without["decord_imported"] is False and without["backend"] == "pyav"
    assert "decord" not in log
    # Asking for decord by name fails at once, naming the config key and what to use instead.
    assert "data.decode_backend=decord" in without["named"] and "data.decode_backend=pyav" in without["named"]

    # Installed, decord is still imported only when asked for by name.
    default, _ = _run(tmp_path, synthetic_root, "default", block=False)
    assert default["decord_imported"] is False and default["backend"] == "pyav"
    with_decord, log = _run(tmp_path, synthetic_root, "with", block=False, backend="decord")
    assert with_decord["backend"] == "decord" and with_decord["named"] == "accepted"
    assert "wrong frames" not in log  # H.264 in MP4: decord is exact there, so no warning

    assert torch.equal(without["train"]["index"], with_decord["train"]["index"])
    assert torch.equal(without["train"]["clips"], with_decord["train"]["clips"])
    assert without["train"]["clips"].shape == (4, 3, 8, 40, 40)
    for split, n_videos in (("val", 16), ("test", 12)):
        a, b = without[split], with_decord[split]
        assert sum(len(x["label"]) for x in a) == n_videos and all(x["skipped"] == [] for x in a)
        assert len(a) == len(b)
        for xa, xb in zip(a, b):
            assert torch.equal(xa["index"], xb["index"]) and torch.equal(xa["clips"], xb["clips"])
