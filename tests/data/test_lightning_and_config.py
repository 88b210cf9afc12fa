"""The DataModule inside a real Lightning Trainer (DDP on CPU) and composed from conf/data."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch

from cost.data import VideoDataModule

from .conftest import SMALL_SYNTHETIC

REPO = Path(__file__).resolve().parents[2]


class IndexRecorder(pl.LightningModule):
    """Trains one linear layer; records which video indices each rank saw in test."""

    def __init__(self, out_dir: str):
        super().__init__()
        self.fc = torch.nn.Linear(3, 16)
        self.out_dir = out_dir
        self.seen: list[int] = []

    def training_step(self, batch, _):
        return torch.nn.functional.cross_entropy(self.fc(batch["clips"].mean((2, 3, 4))), batch["label"])

    def test_step(self, batch, _):
        assert batch["clips"].ndim == 6
        self.seen += batch["index"].tolist()

    def on_test_epoch_end(self):
        Path(self.out_dir, f"rank{self.global_rank}.txt").write_text(" ".join(map(str, self.seen)))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def teardown(self, stage):
        # A spawned rank that exits with a live gloo group can abort in its C++ threads
        # ("terminate called without an active exception"); close the group first.
        if torch.distributed.is_initialized():
            torch.distributed.barrier()
            torch.distributed.destroy_process_group()


@pytest.mark.slow
@pytest.mark.parametrize("use_distributed_sampler", [True, False])
def test_lightning_ddp_test_sees_every_video_once(synthetic_root, tmp_path, use_distributed_sampler):
    dm = VideoDataModule(
        format="synthetic",
        root=str(synthetic_root),
        synthetic=SMALL_SYNTHETIC,
        num_frames=4,
        frame_stride=4,
        train_short_side=(32, 32),
        train_crop=32,
        val_short_side=32,
        val_crop=32,
        test_short_side=32,
        test_clips=2,
        batch_size=4,
        test_batch_size=2,
        num_workers=0,
    )
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=2,
        strategy="ddp_spawn",
        max_steps=2,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        use_distributed_sampler=use_distributed_sampler,
        default_root_dir=str(tmp_path),
    )
    model = IndexRecorder(str(tmp_path))
    trainer.fit(model, datamodule=dm)
    trainer.test(model, datamodule=dm)
    seen = [list(map(int, (tmp_path / f"rank{r}.txt").read_text().split())) for r in range(2)]
    assert not set(seen[0]) & set(seen[1])  # disjoint
    assert sorted(seen[0] + seen[1]) == list(range(12))  # every test video exactly once


def compose_data(tmp_path, name: str, frames: int, overrides=()):
    """Compose conf/data/<name>.yaml with stand-ins for the `frames` and `paths` groups."""
    from hydra import compose, initialize_config_dir

    conf = tmp_path / "conf"
    shutil.copytree(REPO / "conf" / "data", conf / "data")
    shutil.copy(REPO / "conf" / "_video.yaml", conf / "_video.yaml")  # the data presets' base
    for n in (8, 32):
        (conf / "frames").mkdir(exist_ok=True)
        (conf / "frames" / f"f{n}.yaml").write_text(f"num_frames: {n}\n")
    (conf / "paths").mkdir()
    (conf / "paths" / "default.yaml").write_text(f"data_dir: {tmp_path / 'data'}\n")
    (conf / "config.yaml").write_text(
        "defaults:\n  - data: synthetic\n  - frames: f8\n  - paths: default\n  - _self_\n"
    )
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        return compose(config_name="config", overrides=[f"data={name}", f"frames=f{frames}", *overrides])


@pytest.mark.parametrize(
    "name, frames, stride",
    [
        ("synthetic", 8, 4),
        ("synthetic", 32, 1),
        ("kinetics", 8, 8),
        ("kinetics", 32, 4),
        ("moments", 8, 8),
        ("moments", 32, 2),
        ("list", 8, 8),
        ("folder", 32, 4),
    ],
)
def test_data_configs_instantiate(tmp_path, name, frames, stride):
    from hydra.utils import instantiate

    cfg = compose_data(tmp_path, name, frames, ["data.batch_size=3", "data.num_workers=0", "data.test_crops=3"])
    dm = instantiate(cfg.data)
    assert isinstance(dm, VideoDataModule)
    assert dm.num_frames == frames and dm.stride == stride
    assert dm.batch_size == 3 and dm.test_crops == 3
    assert dm.max_frame_pixels == 3840 * 2160  # data.max_frame_pixels reaches the data module
    assert str(dm.root).startswith(str(tmp_path / "data"))


def test_synthetic_config_end_to_end(tmp_path):
    from hydra.utils import instantiate

    cfg = compose_data(
        tmp_path,
        "synthetic",
        8,
        ["data.num_workers=0", "data.synthetic.num_train=16", "data.synthetic.num_val=4", "data.synthetic.num_test=4"],
    )
    dm = instantiate(cfg.data)
    dm.prepare_data()
    dm.setup("fit")
    assert (tmp_path / "data" / "synthetic" / "meta.json").exists()
    assert dm.num_classes == 16 and len(dm.class_names) == 16
    b = next(iter(dm.train_dataloader()))
    assert b["clips"].shape == (16, 3, 8, 48, 48)
    dm.setup("test")
    t = next(iter(dm.test_dataloader()))
    assert t["clips"].shape == (4, 10, 3, 8, 48, 64)  # 10 full-frame clips of 64x48
