"""The architecture table: one UnitSpec row decides what a patterned unit is made of."""

import pytest
import torch

from cost.models import UNIT_SPECS, UnitSpec, build_model, check_options, cost_layers
from cost.models.resnet import cost_conv


def test_a_new_row_builds_a_new_architecture(monkeypatch):
    """C3D's 3x1x1 first conv with a CoST(a) 3x3 layer: no builder code names the new arch."""
    monkeypatch.setitem(UNIT_SPECS, "c3d_cost_a", UnitSpec(temporal_kernel=3, conv2=cost_conv("a")))
    model = build_model("c3d_cost_a", "tiny", num_classes=3, unit_patterns=[(1,), (0,), (1,), (1,)])
    layers = cost_layers(model)
    assert [(layer.layer_index, layer.stage, layer.unit, layer.mode) for layer in layers] == [
        (1, 2, 0, "a"),
        (2, 4, 0, "a"),
        (3, 5, 0, "a"),
    ]
    assert [model.get_submodule(f"layer{s}.0.conv1").kernel_size[0] for s in (1, 2, 3, 4)] == [3, 1, 3, 3]
    assert model(torch.randn(1, 3, 4, 32, 32)).shape == (1, 3)


@pytest.mark.parametrize("arch", ["c2d", "c3d", "cost_a", "cost_b"])
def test_every_row_checks_through_one_function(arch):
    assert check_options(arch, "50")["units"] == (3, 4, 6, 3)
    with pytest.raises(ValueError, match="model.cost_impl='fast' is not supported"):
        check_options(arch, 50, cost_impl="fast")
