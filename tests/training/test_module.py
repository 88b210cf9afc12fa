"""The LightningModule: 32-frame fine-tuning with frozen BatchNorm, coefficients, and the
end-of-test count check (a partial test is not checked, a video listed twice counts twice)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cost.models import cost_layers
from cost.results.coefficients import class_rows
from cost.training.coefficients import batch_coefficients, layer_rows
from cost.training.module import VideoClassifier
from cost.training.runner import evaluate
from tests.helpers.training import eval_cfg, small_split

MODEL = {"_target_": "cost.models.build_model", "arch": "cost_b", "depth": "tiny", "dropout": 0.0}
OPTIM = {"lr": 0.1, "milestones": [0.5, 0.75]}


def _step(module: VideoClassifier, frames: int) -> None:
    opt = torch.optim.SGD([p for p in module.parameters() if p.requires_grad], lr=0.1)
    module.train()
    batch = {"clips": torch.randn(4, 3, frames, 32, 32), "label": torch.tensor([0, 1, 2, 3]), "index": torch.arange(4)}
    logits = module.net(batch["clips"])
    loss = nn.functional.cross_entropy(logits, batch["label"])
    opt.zero_grad()
    loss.backward()
    opt.step()


def test_32_frame_finetune_from_8_frame_checkpoint_with_frozen_bn(tmp_path):
    eight = VideoClassifier(MODEL, OPTIM, num_classes=4)
    _step(eight, 8)
    ckpt = tmp_path / "eight.ckpt"
    torch.save({"state_dict": eight.state_dict()}, ckpt)

    ft = VideoClassifier(MODEL, OPTIM, num_classes=4, freeze_bn=True, init_checkpoint=str(ckpt))
    for k, v in eight.net.state_dict().items():
        assert torch.equal(v, ft.net.state_dict()[k]), k
    bns = [m for m in ft.net.modules() if isinstance(m, nn.BatchNorm3d)]
    before = [(b.running_mean.clone(), b.running_var.clone(), b.weight.clone(), b.bias.clone()) for b in bns]
    conv_before = ft.net.conv1.weight.clone()
    _step(ft, 32)  # 32-frame clips through the same weights
    assert all(not b.training for b in bns)  # train() keeps frozen BN in eval mode
    for b, (m, v, w, bias) in zip(bns, before):
        assert torch.equal(b.running_mean, m) and torch.equal(b.running_var, v)
        assert torch.equal(b.weight, w) and torch.equal(b.bias, bias) and not b.weight.requires_grad
    assert not torch.equal(ft.net.conv1.weight, conv_before)  # the rest still learns


def test_init_checkpoint_must_fit(tmp_path):
    other = VideoClassifier({**MODEL, "arch": "c2d"}, OPTIM, num_classes=4)
    ckpt = tmp_path / "c2d.ckpt"
    torch.save({"state_dict": other.state_dict()}, ckpt)
    with pytest.raises(ValueError, match="frames.init_checkpoint"):
        VideoClassifier(MODEL, OPTIM, num_classes=4, init_checkpoint=str(ckpt))


@pytest.mark.parametrize("arch,share", [("cost_a", True), ("cost_a", False), ("cost_b", True), ("cost_b", False)])
def test_coefficient_statistics(arch, share):
    m = VideoClassifier({**MODEL, "arch": arch, "share_weights": share}, OPTIM, num_classes=3)
    m.eval()
    with torch.no_grad():
        m.net(torch.randn(2 * 3, 3, 4, 32, 32))  # 2 videos x 3 views
    layers = cost_layers(m.net)
    coef = batch_coefficients(layers, 2, 3)
    assert coef.shape == (2, 4, 3)
    assert torch.allclose(coef.sum(-1), torch.ones(2, 4), atol=1e-5)
    rows = layer_rows(layers, coef)
    assert [(r["layer"], r["view"]) for r in rows[:3]] == [(1, "hw"), (1, "tw"), (1, "th")]
    crows = class_rows(coef, torch.tensor([0, 2]), ["a", "b", "c"])
    assert [r["class"] for r in crows] == ["a", "c"]  # classes without videos are left out
    if arch == "cost_a":  # learned, clip-independent: the init (0.7, -0.7, -0.7) after softmax
        assert rows[0]["mean"] == pytest.approx(torch.softmax(torch.tensor([0.7, -0.7, -0.7]), 0)[0].item(), abs=1e-5)


def test_c2d_has_no_coefficients():
    m = VideoClassifier({**MODEL, "arch": "c2d"}, OPTIM, num_classes=3)
    assert m.layers == [] and layer_rows([], torch.zeros(2, 0, 3)) == []


def test_missing_pretrained_file_names_the_key(tmp_path):
    from cost.models.factory import build_net

    with pytest.raises(FileNotFoundError, match="model.pretrained"):
        build_net({**MODEL, "pretrained": str(tmp_path / "nope.pth"), "inflate": "mean"}, num_classes=3)


def test_compile_option_must_be_a_boolean():
    from cost.models.factory import build_net

    with pytest.raises(ValueError, match="model.compile"):
        build_net({**MODEL, "compile": "max-autotune"}, num_classes=3)


@pytest.mark.slow
def test_compiled_network_matches_eager():
    """model.compile=true: the same loss and gradients as eager in training, the same
    parameter names, and after an optimizer step the same eval output (the folded CoST(a)
    kernel cached under no_grad must follow the step inside the compiled graph too)."""
    from cost.models.factory import build_net

    torch.manual_seed(0)
    cfg = {**MODEL, "arch": "cost_a"}
    eager = build_net(cfg, num_classes=4)
    compiled = build_net({**cfg, "compile": True}, num_classes=4)
    assert list(compiled.state_dict()) == list(eager.state_dict())
    compiled.load_state_dict(eager.state_dict())
    with torch.no_grad():  # coefficients away from their init, so every view matters
        for a, b in zip(cost_layers(eager), cost_layers(compiled)):
            a.coef_logits.normal_()
            b.coef_logits.copy_(a.coef_logits)
    clips, labels = torch.randn(2, 3, 8, 32, 32), torch.tensor([0, 3])

    def evaluate(net):
        net.eval()
        with torch.no_grad():
            return net(clips)

    before = evaluate(eager)
    torch.testing.assert_close(evaluate(compiled), before, rtol=1e-5, atol=1e-5)
    losses = []
    for net in (eager, compiled):
        net.train()
        loss = nn.functional.cross_entropy(net(clips), labels)
        loss.backward()
        torch.optim.SGD(net.parameters(), lr=0.5).step()
        losses.append(loss.detach())
    torch.testing.assert_close(losses[1], losses[0], rtol=1e-5, atol=1e-5)
    for (name, p), q in zip(eager.named_parameters(), compiled.parameters()):
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-4, atol=1e-5, msg=name)
    after = evaluate(eager)
    torch.testing.assert_close(evaluate(compiled), after, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(after, before, atol=1e-4), "the step must change the eval output"
    for a, b in zip(cost_layers(eager), cost_layers(compiled)):
        torch.testing.assert_close(b.coefficients, a.coefficients)


def test_a_model_owning_a_device_preprocessor_saves_and_loads_the_same_state():
    """The preprocessor's buffers are not saved: checkpoints from before it existed load strictly."""
    from cost.data import DevicePreprocessor, TrainTransform

    plain = VideoClassifier(MODEL, OPTIM, num_classes=4)
    owner = VideoClassifier(MODEL, OPTIM, num_classes=4)
    owner.preprocess = DevicePreprocessor({"train": TrainTransform((40, 48), 32)})
    added = dict(owner.named_buffers()).keys() - dict(plain.named_buffers()).keys()
    assert added == {"preprocess.mean", "preprocess.std"}
    assert owner.state_dict().keys() == plain.state_dict().keys()
    owner.load_state_dict(plain.state_dict(), strict=True)
    plain.load_state_dict(owner.state_dict(), strict=True)


@pytest.mark.slow
def test_the_device_preprocessor_leaves_checkpoints_as_they_were(tmp_path):
    """A device-path run takes the data module's `DevicePreprocessor` at setup (train and val
    batches go through it); its checkpoint has the same keys as one without it, and each loads
    strictly into the other, so checkpoints from before it existed load as they did."""
    import pytorch_lightning as pl
    from omegaconf import OmegaConf

    from cost.data import DevicePreprocessor, VideoDataModule
    from tests.helpers.training import compose_cfg

    synthetic = dict(num_train=8, num_val=4, num_test=2, min_frames=20, max_frames=24, verbose=False)
    dm = VideoDataModule(
        format="synthetic",
        root=str(tmp_path / "data"),
        synthetic=synthetic,
        num_workers=0,
        num_frames=4,
        frame_stride=2,
        train_short_side=(36, 40),
        train_crop=32,
        val_short_side=36,
        val_crop=32,
        batch_size=4,
        device_transforms=True,
    )
    optim = OmegaConf.to_container(compose_cfg(["paths.output_dir=/unused"]).optim, resolve=True)
    module = VideoClassifier(MODEL, optim)
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=1,
        max_epochs=1,
        limit_train_batches=1,
        limit_val_batches=1,
        num_sanity_val_steps=0,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        default_root_dir=tmp_path,
    )
    trainer.fit(module, datamodule=dm)
    assert isinstance(module.preprocess, DevicePreprocessor) and module.val_results["num_videos"] > 0
    trainer.save_checkpoint(tmp_path / "device.ckpt")
    plain = VideoClassifier(MODEL, optim, num_classes=module.hparams.num_classes)
    saved = torch.load(tmp_path / "device.ckpt", weights_only=False)["state_dict"]
    assert saved.keys() == plain.state_dict().keys()
    VideoClassifier.load_from_checkpoint(tmp_path / "device.ckpt", strict=True)
    module.load_state_dict(plain.state_dict(), strict=True)  # an older checkpoint into a model that owns one


def test_int_limit_test_batches_is_one_batch_not_the_full_test(tiny_run, data_dir, tmp_path):
    _, rec, split = tiny_run
    res = evaluate(
        eval_cfg(data_dir, tmp_path, rec["checkpoint"], split, "trainer.limit_test_batches=1", "data.test_batch_size=2")
    )
    assert res["num_videos"] == 2


def test_unreadable_video_listed_twice_is_counted_twice(tiny_run, data_dir, tmp_path):
    _, rec, _ = tiny_run
    bad = data_dir / "synthetic" / "unreadable.mp4"
    bad.write_bytes(b"not a video" * 100)
    split = small_split(data_dir, "state_twice.txt", 3, ("unreadable.mp4 0", "unreadable.mp4 0"))
    res = evaluate(eval_cfg(data_dir, tmp_path, rec["checkpoint"], split))
    assert res["num_videos"] == 3 and res["skipped_videos"] == [str(bad)]
