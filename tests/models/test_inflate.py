"""ImageNet inflation against an independently written 2D ResNet with torchvision's key names."""

import pickle

import pytest
import torch

from cost.checkpoints import CheckpointError, imagenet_state
from cost.models import build_model, cost_layers, load_imagenet_2d
from tests.helpers.models import TINY, ResNet2d, imagenet_like, static_clip


def test_inflated_c2d_equals_the_2d_network_on_a_static_clip():
    net2d = imagenet_like(num_classes=10, **TINY)
    c2d = build_model("c2d", "tiny", num_classes=10)
    report = load_imagenet_2d(c2d, net2d.state_dict())
    assert report.skipped == [] and report.kept_init == []
    c2d.eval()
    frame = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(c2d(static_clip(frame)), net2d(frame), rtol=1e-4, atol=1e-5)


def test_r50_checkpoint_loads_key_for_key_into_every_arch():
    net2d = imagenet_like((3, 4, 6, 3), 64, 1000)
    state = net2d.state_dict()
    frame = torch.randn(1, 3, 64, 64)
    c2d = build_model("c2d", 50, num_classes=1000)
    load_imagenet_2d(c2d, state)
    with torch.no_grad():
        torch.testing.assert_close(c2d.eval()(static_clip(frame, 2)), net2d(frame), rtol=1e-4, atol=1e-4)
    for arch in ("c3d", "cost_a", "cost_b"):
        model = build_model(arch, 50, num_classes=400)
        report = load_imagenet_2d(model, state)
        assert [s.split(" ")[0] for s in report.skipped] == ["fc.weight", "fc.bias"]


def test_c3d_center_init_equals_c2d_on_any_clip():
    net2d = imagenet_like(num_classes=10, **TINY)
    c2d, c3d = build_model("c2d", "tiny", num_classes=10), build_model("c3d", "tiny", num_classes=10)
    load_imagenet_2d(c2d, net2d.state_dict())
    report = load_imagenet_2d(c3d, net2d.state_dict(), inflate="center")
    convs_2d = [k for k, v in net2d.state_dict().items() if v.dim() == 4]
    assert sorted(report.inflated) == sorted(convs_2d)  # every 2D conv becomes 3D
    temporal = [k for k in report.inflated if c3d.state_dict()[k].shape[2] == 3]
    assert temporal == [f"layer{i}.0.conv1.weight" for i in range(1, 5)]
    clip = torch.randn(2, 3, 8, 48, 48)  # not static: every frame differs
    with torch.no_grad():
        torch.testing.assert_close(c3d.eval()(clip), c2d.eval()(clip), rtol=1e-4, atol=1e-5)


def test_c3d_mean_init_divides_the_2d_weight_by_three():
    net2d = imagenet_like(num_classes=10, **TINY)
    c3d = build_model("c3d", "tiny", num_classes=10)
    load_imagenet_2d(c3d, net2d.state_dict(), inflate="mean")
    w2d = net2d.layer2[0].conv1.weight
    w3d = c3d.layer2[0].conv1.weight
    assert w3d.shape == (*w2d.shape[:2], 3, 1, 1)
    for t in range(3):
        torch.testing.assert_close(w3d[:, :, t], w2d / 3)
    # on a static clip the centre frames (no temporal zero padding) equal C2D's features
    c2d = build_model("c2d", "tiny", num_classes=10)
    load_imagenet_2d(c2d, net2d.state_dict())
    clip = static_clip(torch.randn(1, 3, 32, 32), 8)
    with torch.no_grad():
        a = c3d.eval().layer1(c3d.maxpool(c3d.relu(c3d.bn1(c3d.conv1(clip)))))
        b = c2d.eval().layer1(c2d.maxpool(c2d.relu(c2d.bn1(c2d.conv1(clip)))))
    torch.testing.assert_close(a[:, :, 1:-1], b[:, :, 1:-1], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("arch", ["cost_a", "cost_b"])
@pytest.mark.parametrize("share", [True, False])
def test_cost_weights_come_from_the_3x3_and_coefficients_keep_their_init(arch, share):
    net2d = imagenet_like(num_classes=10, **TINY)
    model = build_model(arch, "tiny", num_classes=10, share_weights=share)
    own = {k: v.clone() for k, v in model.state_dict().items() if "coef_" in k}
    report = load_imagenet_2d(model, net2d.state_dict())
    assert sorted(report.kept_init) == sorted(own)
    for key, value in own.items():
        assert torch.equal(model.state_dict()[key], value)
    for layer, block2d in zip(cost_layers(model), [net2d.layer1[0], net2d.layer2[0], net2d.layer3[0], net2d.layer4[0]]):
        for w in layer.view_weights():
            assert torch.equal(w, block2d.conv2.weight)


def test_fc_loads_when_the_class_count_matches():
    net2d = imagenet_like(num_classes=10, **TINY)
    model = build_model("cost_b", "tiny", num_classes=10)
    report = load_imagenet_2d(model, net2d.state_dict())
    assert report.skipped == []
    assert torch.equal(model.fc.weight, net2d.fc.weight)


def test_file_round_trip_with_wrappers(tmp_path):
    net2d = imagenet_like(num_classes=10, **TINY)
    path = tmp_path / "r.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in net2d.state_dict().items()}}, path)
    model = build_model("c2d", "tiny", num_classes=10)
    load_imagenet_2d(model, imagenet_state(path))
    assert torch.equal(model.conv1.weight[:, :, 0], net2d.conv1.weight)


class NotAStateDict:
    pass


def test_files_load_weights_only(tmp_path):
    path = tmp_path / "evil.pth"
    with open(path, "wb") as f:
        pickle.dump({"conv1.weight": NotAStateDict()}, f)
    with pytest.raises(CheckpointError, match=r"model\.pretrained=.*evil\.pth: refused"):
        imagenet_state(path)
    with pytest.raises(TypeError, match="imagenet_state"):  # the models layer reads no files
        load_imagenet_2d(build_model("c2d", "tiny"), path)


def test_missing_file_names_the_path_and_key(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"model\.pretrained"):
        imagenet_state(tmp_path / "nope.pth")


def test_depth_mismatch_is_a_clear_error_and_leaves_the_model_alone():
    r101 = ResNet2d((3, 4, 23, 3)).state_dict()
    model = build_model("cost_b", 50)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError) as err:
        load_imagenet_2d(model, r101)
    assert "unexpected in checkpoint: layer3.6.conv1.weight" in str(err.value)
    assert "model.depth" in str(err.value)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_shape_and_missing_key_errors():
    state = imagenet_like(num_classes=10, **TINY).state_dict()
    model = build_model("c2d", "tiny", num_classes=10)
    broken = dict(state)
    broken["layer1.0.conv2.weight"] = torch.zeros(16, 16, 5, 5)
    del broken["layer2.0.bn1.running_var"]
    with pytest.raises(ValueError) as err:
        load_imagenet_2d(model, broken)
    assert "shape mismatch: layer1.0.conv2.weight" in str(err.value)
    assert "missing in checkpoint: layer2.0.bn1.running_var" in str(err.value)
    with pytest.raises(ValueError, match="model.inflate"):
        load_imagenet_2d(model, state, inflate="zeros")
