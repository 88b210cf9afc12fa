"""The CoST operation (paper Sec. 3.3, Eq. 1-3): one 3x3 kernel convolved along three views.

A 2D weight ``w`` (C_out x C_in x 3 x 3) is applied to the clip as three 3D kernels made by
inserting a unit dimension: 1x3x3 (H-W view, appearance), 3x1x3 (T-W view) and 3x3x1
(T-H view). The three feature maps are mixed per output channel with softmax-normalised
coefficients, either learned directly (CoST(a)) or predicted from the clip (CoST(b)).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

VIEWS = ("hw", "tw", "th")
"""View order everywhere in the project: H-W (spatial), T-W and T-H (temporal)."""

# Where the unit dimension goes for each view, and the matching zero padding of the input.
_UNIT_DIM = {"hw": 2, "tw": 3, "th": 4}
_PADDING = {"hw": (0, 1, 1), "tw": (1, 0, 1), "th": (1, 1, 0)}


def view_kernel(weight: torch.Tensor, view: str) -> torch.Tensor:
    """The 5D kernel of one view: a C_out x C_in x 3 x 3 weight with a unit dim inserted."""
    return weight.unsqueeze(_UNIT_DIM[view])


def fold_views(weights: tuple[torch.Tensor, ...], coefficients: torch.Tensor) -> torch.Tensor:
    """One 3x3x3 kernel equal to the coefficient-weighted sum of the three planar kernels.

    ``weights`` are the (H-W, T-W, T-H) 3x3 weights, ``coefficients`` is C_out x 3. Each
    planar kernel sits in the centre slice of the cube along its unit dimension, so the
    corners stay zero (19 non-zero taps): SPEC section 2.
    """
    w_hw, w_tw, w_th = weights
    c_out, c_in = w_hw.shape[:2]
    kernel = w_hw.new_zeros(c_out, c_in, 3, 3, 3)
    a = coefficients.to(w_hw.dtype).view(c_out, 3, 1, 1, 1)
    kernel[:, :, 1, :, :] += a[:, 0] * w_hw
    kernel[:, :, :, 1, :] += a[:, 1] * w_tw
    kernel[:, :, :, :, 1] += a[:, 2] * w_th
    return kernel


class CoST(nn.Module):
    """Collaborative spatiotemporal convolution replacing a residual unit's 1x3x3 conv.

    Args:
        in_channels, out_channels: as for the conv it replaces.
        mode: ``"a"`` learns one coefficient set for all clips (CoST(a)); ``"b"`` predicts
            coefficients per clip from max-pooled view features (CoST(b)).
        stride: spatial stride (H and W); time always has stride 1.
        share_weights: one 3x3 weight for the three views (the paper). ``False`` gives three
            independent weights (Table 3's ablation): ``weight`` is then the H-W one and
            ``weight_tw``/``weight_th`` the others.
        coef_init: CoST(a) logits before softmax, (H-W, T-W, T-H).
        fuse_eval: in eval mode, run CoST(a) as one folded 3x3x3 convolution. The folded
            kernel is rebuilt from the current parameters on every call, so it can never go
            stale after a training step or a checkpoint load.

    After every forward, ``coefficients`` holds the N x C_out x 3 coefficients used.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        mode: str = "b",
        stride: int = 1,
        share_weights: bool = True,
        coef_init: tuple[float, float, float] = (0.7, -0.7, -0.7),
        fuse_eval: bool = True,
    ) -> None:
        super().__init__()
        if mode not in ("a", "b"):
            raise ValueError(f"CoST mode must be 'a' or 'b', got {mode!r}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.mode, self.stride = mode, stride
        self.share_weights, self.fuse_eval = share_weights, fuse_eval

        def new_weight() -> nn.Parameter:
            w = torch.empty(out_channels, in_channels, 3, 3)
            nn.init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu")
            return nn.Parameter(w)

        self.weight = new_weight()
        if share_weights:
            self.register_parameter("weight_tw", None)
            self.register_parameter("weight_th", None)
        else:
            self.weight_tw, self.weight_th = new_weight(), new_weight()

        if mode == "a":
            logits = torch.tensor(coef_init, dtype=torch.float32).repeat(out_channels, 1)
            self.coef_logits = nn.Parameter(logits)
        else:
            # Shared across views: the 1x1x1 conv C->C (a matrix on pooled vectors) and the
            # 3->3 FC applied to every channel row. No bias, no activation; N(0, 0.01).
            self.coef_proj = nn.Linear(out_channels, out_channels, bias=False)
            self.coef_fc = nn.Linear(3, 3, bias=False)
            nn.init.normal_(self.coef_proj.weight, std=0.01)
            nn.init.normal_(self.coef_fc.weight, std=0.01)

        self.coefficients: torch.Tensor | None = None
        # Set by the network builder so statistics can name the layer (1-based, res2..res5).
        self.layer_index: int = 0
        self.stage: int = 0
        self.unit: int = 0

    def view_weights(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if self.share_weights:
            return self.weight, self.weight, self.weight
        return self.weight, self.weight_tw, self.weight_th

    def view_outputs(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The three view feature maps (x_hw, x_tw, x_th), each N x C_out x T x H' x W'."""
        stride = (1, self.stride, self.stride)
        return [
            F.conv3d(x, view_kernel(w, v), stride=stride, padding=_PADDING[v])
            for w, v in zip(self.view_weights(), VIEWS)
        ]

    def learned_coefficients(self) -> torch.Tensor:
        """CoST(a): the C_out x 3 softmax-normalised coefficients."""
        return torch.softmax(self.coef_logits, dim=1)

    def predict_coefficients(self, views: list[torch.Tensor]) -> torch.Tensor:
        """CoST(b): N x C_out x 3 coefficients from the view features (before BN)."""
        pooled = torch.stack([v.amax(dim=(2, 3, 4)) for v in views], dim=2)  # N x C x 3
        projected = self.coef_proj(pooled.transpose(1, 2)).transpose(1, 2)  # shared over views
        return torch.softmax(self.coef_fc(projected), dim=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        if self.mode == "a" and self.fuse_eval and not self.training:
            a = self.learned_coefficients()
            self.coefficients = a.unsqueeze(0).expand(n, -1, -1)
            kernel = fold_views(self.view_weights(), a)
            return F.conv3d(x, kernel, stride=(1, self.stride, self.stride), padding=1)

        views = self.view_outputs(x)
        if self.mode == "a":
            a = self.learned_coefficients().unsqueeze(0).expand(n, -1, -1)
        else:
            a = self.predict_coefficients(views)
        self.coefficients = a
        return sum(a[:, :, i, None, None, None] * v for i, v in enumerate(views))

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, mode={self.mode!r}, stride={self.stride}, "
            f"share_weights={self.share_weights}"
        )
