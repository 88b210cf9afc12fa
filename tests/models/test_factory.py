"""cost.models.factory: a network from its config without the training stack."""

from __future__ import annotations

import subprocess
import sys

import torch

from tests.helpers.models import imagenet_like

HEAVY = ("pytorch_lightning", "lightning", "lightning_fabric", "matplotlib", "torchmetrics")


def test_building_a_network_with_imagenet_init_loads_no_lightning_or_matplotlib(tmp_path):
    """predict.py and the sweep's cost estimate build networks: neither Lightning nor
    matplotlib (which torchmetrics imports) may come with it, ImageNet init included."""
    weights = tmp_path / "r_tiny.pth"
    torch.save(imagenet_like((1, 1, 1, 1), 16, 10).state_dict(), weights)
    code = (
        "import sys\n"
        "from cost.models.factory import build_net\n"
        f"net = build_net({{'arch': 'cost_b', 'depth': 'tiny', 'pretrained': {str(weights)!r}}}, 10)\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"ImageNet init from {weights}:" in proc.stdout  # the weights were read and inflated
    assert proc.stdout.strip().splitlines()[-1] == "[]", proc.stdout
