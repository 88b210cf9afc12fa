"""`model.to(memory_format=torch.channels_last_3d)` works for every architecture (CoST's 3x3
weights are 4-D, which torch's own conversion rejects) and changes no number."""

from __future__ import annotations

import pytest
import torch

from cost.models import ARCHS, build_model
from cost.models.factory import build_net


@pytest.mark.parametrize("arch", ARCHS)
def test_channels_last_3d_for_every_arch(arch):
    torch.manual_seed(0)
    net = build_model(arch, "tiny", num_classes=5, share_weights=arch != "cost_b").eval()
    x = torch.randn(2, 3, 4, 32, 32)
    with torch.no_grad():
        want = net(x)
        net.to(memory_format=torch.channels_last_3d)
        got = net(x.contiguous(memory_format=torch.channels_last_3d))
    for name, p in net.named_parameters():
        if p.dim() == 5:
            assert p.is_contiguous(memory_format=torch.channels_last_3d), name
        if p.dim() == 4:  # CoST's planar weights: channels-last as 2-D
            assert p.is_contiguous(memory_format=torch.channels_last), name
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


def test_model_config_channels_last_key():
    net = build_net({"arch": "cost_b", "depth": "tiny", "channels_last": True}, 4)
    conv = next(p for p in net.parameters() if p.dim() == 5)
    assert conv.is_contiguous(memory_format=torch.channels_last_3d)
