"""The backbones of Table 1: shapes, parameter counts, FLOPs and C2D as a special case of CoST."""

import pytest
import torch

from cost.models import build_model, cost_layers
from cost.models.summary import count_macs, count_parameters

VARIANTS = [("c2d", True), ("c3d", True), ("cost_a", True), ("cost_a", False), ("cost_b", True), ("cost_b", False)]

# docs/method.md "Unit patterns", written out independently of the package's presets.
UNITS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}
PATTERNS = {
    50: ((0, 1, 0), (1, 0, 1, 0), (1, 0, 1, 0, 1, 0), (1, 0, 1)),
    101: ((0, 1, 0), (1, 0, 1, 0), (1, 0) * 11 + (1,), (0, 1, 0)),
}


def patterned_units(depth):
    """(stage index, in_channels, width) of every unit that carries the C3D/CoST op."""
    out, channels = [], 64
    for stage, pattern in enumerate(PATTERNS[depth]):
        width = 64 * 2**stage
        for flag in pattern:
            if flag:
                out.append((stage, channels, width))
            channels = 4 * width
    return out


@pytest.mark.parametrize("depth", [50, 101])
@pytest.mark.parametrize("arch,share", VARIANTS)
@pytest.mark.parametrize("frames", [8, 32])
@pytest.mark.parametrize("size", [(224, 224), (256, 340)])
def test_output_shapes(depth, arch, share, frames, size):
    """Shape propagation on the meta device (no compute): 8/32 frames, crops and full frames."""
    with torch.device("meta"):
        model = build_model(arch, depth, num_classes=400, share_weights=share).eval()
        x = torch.empty(2, 3, frames, *size)
        features = model.features(x)
        logits = model(x)
    h, w = size
    expected_hw = (-(-h // 32), -(-w // 32))  # ceil: every stride-2 stage pads
    assert tuple(features.shape) == (2, 2048, frames // 2, *expected_hw)
    assert tuple(logits.shape) == (2, 400)
    for layer in cost_layers(model):
        assert tuple(layer.coefficients.shape) == (2, layer.out_channels, 3)


def test_real_forward_full_frame_and_any_length():
    """Real compute: fully convolutional inference on a full 256x340 frame and odd T."""
    torch.manual_seed(0)
    model = build_model("cost_b", "tiny", num_classes=7).eval()
    for t in (1, 3, 8):
        out = model(torch.randn(1, 3, t, 256, 340))
        assert out.shape == (1, 7) and torch.isfinite(out).all()


def test_real_forward_r50_cost_b():
    torch.manual_seed(0)
    model = build_model("cost_b", 50, num_classes=400).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 8, 224, 224))
    assert out.shape == (1, 400) and torch.isfinite(out).all()
    assert len(cost_layers(model)) == 8
    for layer in cost_layers(model):
        torch.testing.assert_close(layer.coefficients.sum(2), torch.ones(1, layer.out_channels))


def test_c2d_r50_matches_torchvision_resnet50_parameter_count():
    with torch.device("meta"):
        model = build_model("c2d", 50, num_classes=400)
    # torchvision resnet50: 25,557,032 with 1000 classes; the fc is 2048*1000 + 1000.
    assert count_parameters(model) == 25_557_032 - 2_049_000 + 2048 * 400 + 400 == 24_327_632


@pytest.mark.parametrize("depth", [50, 101])
@pytest.mark.parametrize("arch,share", VARIANTS[1:])
def test_parameter_difference_from_c2d(depth, arch, share):
    """docs/method.md "Compute anchors": C3D adds 2 temporal taps to conv1 of each patterned unit; CoST adds
    3*C (a) or C^2 + 9 (b) per layer, and without sharing two more 3x3 weights."""
    with torch.device("meta"):
        c2d = count_parameters(build_model("c2d", depth))
        model = count_parameters(build_model(arch, depth, share_weights=share))
    expected = 0
    for _, c_in, width in patterned_units(depth):
        if arch == "c3d":
            expected += 2 * c_in * width
        else:
            expected += 3 * width if arch == "cost_a" else width * width + 9
            if not share:
                expected += 2 * width * width * 9
    assert model - c2d == expected


def test_unit_patterns_place_ops_where_the_spec_says():
    model = build_model("cost_a", 101)
    layers = cost_layers(model)
    assert len(layers) == sum(sum(p) for p in PATTERNS[101]) == 1 + 2 + 12 + 1 == 16
    assert [(layer.stage, layer.unit) for layer in layers][:5] == [(2, 1), (3, 0), (3, 2), (4, 0), (4, 2)]
    assert [layer.layer_index for layer in layers] == list(range(1, 17))
    c3d = build_model("c3d", 50)
    temporal = [name for name, m in c3d.named_modules() if isinstance(m, torch.nn.Conv3d) and m.kernel_size[0] == 3]
    assert temporal == [
        f"layer{s + 2}.{u}.conv1" for s, u in [(-1, 1), (0, 0), (0, 2), (1, 0), (1, 2), (1, 4), (2, 0), (2, 2)]
    ]


def test_cost_layer_costs_three_times_the_conv_it_replaces():
    """Counted MACs: each CoST layer adds exactly 2x the MACs of its 1x3x3 conv (3 views)."""
    frames, size = 8, 224
    with torch.device("meta"):
        c2d = count_macs(build_model("c2d", 50), frames, size)
        cost_a = count_macs(build_model("cost_a", 50), frames, size)
    t_per_stage = [frames, frames // 2, frames // 2, frames // 2]  # pool2 halves time after res2
    hw_per_stage = [56, 28, 14, 7]
    expected = sum(2 * t_per_stage[s] * hw_per_stage[s] ** 2 * width * width * 9 for s, _, width in patterned_units(50))
    assert cost_a - c2d == expected


def test_c2d_r50_gmacs_near_the_published_anchor():
    with torch.device("meta"):
        gmac = count_macs(build_model("c2d", 50), 8, 224) / 1e9
    assert 19.0 < gmac < 20.0  # docs/method.md "Compute anchors": about 19-20 GMAC with pool2


@pytest.mark.parametrize("impl,exact", [("reference", True), ("fused", False), ("auto", False)])
def test_cost_with_hw_only_coefficients_equals_c2d(impl, exact):
    """Sec. 3.4: with a_tw = a_th = 0 every CoST layer is the 1x3x3 conv, so the network is C2D."""
    torch.manual_seed(0)
    c2d = build_model("c2d", "tiny", num_classes=5)
    cost = build_model("cost_a", "tiny", num_classes=5, cost_impl=impl)
    state = {}
    for key, value in c2d.state_dict().items():
        target = cost.state_dict()[key]
        state[key] = value.reshape(target.shape)  # 1x3x3 conv weights -> 3x3 CoST weights
    missing, unexpected = cost.load_state_dict(state, strict=False)
    assert unexpected == [] and all(k.endswith("coef_logits") for k in missing)
    with torch.no_grad():
        for layer in cost_layers(cost):
            layer.coef_logits.copy_(torch.tensor([0.0, -float("inf"), -float("inf")]))
        # random BN statistics so the comparison covers them
        for a, b in zip(c2d.modules(), cost.modules()):
            if isinstance(a, torch.nn.BatchNorm3d):
                a.running_mean.normal_()
                a.running_var.uniform_(0.5, 2)
                b.running_mean.copy_(a.running_mean)
                b.running_var.copy_(a.running_var)
    c2d.eval(), cost.eval()
    x = torch.randn(2, 3, 8, 64, 64)
    if exact:
        assert torch.equal(cost(x), c2d(x))
    else:
        torch.testing.assert_close(cost(x), c2d(x), rtol=1e-4, atol=1e-5)


def test_network_gradients_reach_every_cost_parameter():
    torch.manual_seed(0)
    model = build_model("cost_b", "tiny", num_classes=4, share_weights=False)
    model(torch.randn(2, 3, 4, 32, 32)).logsumexp(1).mean().backward()
    for layer in cost_layers(model):
        for p in (layer.weight, layer.weight_tw, layer.weight_th, layer.coef_proj.weight, layer.coef_fc.weight):
            assert p.grad is not None and p.grad.abs().sum() > 0


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"arch": "i3d"}, "model.arch"),
        ({"arch": "c2d", "depth": 34}, "model.depth"),
        ({"arch": "c2d", "unit_patterns": [(1,)] * 4}, "model.unit_patterns"),
        ({"arch": "c2d", "stride_on": "conv2"}, "model.stride_on"),
        ({"arch": "cost_a", "cost_impl": "fast"}, "model.cost_impl"),
    ],
)
def test_bad_options_name_the_config_key(kwargs, match):
    with pytest.raises(ValueError, match=match):
        build_model(**kwargs)


def test_authors_pooling_options():
    """pool1 1x3x3 and pool2 2x1x1 (the authors' code), or no pool2 at all."""
    with torch.device("meta"):
        x = torch.empty(1, 3, 8, 224, 224)
        authors = build_model("c2d", 50, pool1_kernel=(1, 3, 3), pool2_kernel=(2, 1, 1))
        no_pool2 = build_model("c2d", 50, pool2_kernel=None)
        assert authors.features(x).shape[2] == 4
        assert no_pool2.features(x).shape[2] == 8
        assert 32.0 < count_macs(no_pool2, 8) / 1e9 < 34.0  # docs/method.md "Compute anchors": 32.9 G
