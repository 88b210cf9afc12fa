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
IMPLS = ("auto", "reference", "conv2d", "fused")
# "auto" folds CoST(a) from this input size (H x W) on. Measured on CPU with the folded kernel
# cached (python -m cost.bench ops): 0.55x the three views at 56x56, 0.76x at 28x28, 0.87x
# at 14x14, but 1.02-1.04x at 7x7.
FUSE_MIN_PIXELS = 14 * 14


def view_kernel(weight: torch.Tensor, view: str) -> torch.Tensor:
    """The 5D kernel of one view: a C_out x C_in x 3 x 3 weight with a unit dim inserted."""
    return weight.unsqueeze(_UNIT_DIM[view])


def fold_views(weights: tuple[torch.Tensor, ...], coefficients: torch.Tensor) -> torch.Tensor:
    """One 3x3x3 kernel equal to the coefficient-weighted sum of the three planar kernels.

    ``weights`` are the (H-W, T-W, T-H) 3x3 weights, ``coefficients`` is C_out x 3. Each
    planar kernel sits in the centre slice of the cube along its unit dimension, so the
    corners stay zero (19 non-zero taps): docs/views.md#special-cases.
    """
    w_hw, w_tw, w_th = weights
    c_out, c_in = w_hw.shape[:2]
    kernel = w_hw.new_zeros(c_out, c_in, 3, 3, 3)
    a = coefficients.to(w_hw.dtype).view(c_out, 3, 1, 1, 1)
    kernel[:, :, 1, :, :] += a[:, 0] * w_hw
    kernel[:, :, :, 1, :] += a[:, 1] * w_tw
    kernel[:, :, :, :, 1] += a[:, 2] * w_th
    return kernel


def views_conv2d(
    x: torch.Tensor, weights: tuple[torch.Tensor, ...], stride: int = 1, batch_temporal: bool = False
) -> list[torch.Tensor]:
    """The three views as 2D convolutions: each view's two kernel axes become the image axes
    and the remaining axis joins the batch. Same numbers as the conv3d form; an alternative
    for backends whose 2D convolutions are faster than their 3D ones.

    A view whose kernel has size 1 along H (T-W) or W (T-H) only sees every ``stride``-th
    row or column, so those are selected before the convolution. ``batch_temporal`` runs
    the T-W and T-H views as one call when they share a weight and H == W (measured slower
    on CPU than two calls, so off by default; see ``cost.bench ops``).
    """
    w_hw, w_tw, w_th = weights
    n, c, t, h, w = x.shape
    c_out = w_hw.shape[0]

    y_hw = F.conv2d(x.transpose(1, 2).reshape(n * t, c, h, w), w_hw, stride=stride, padding=1)
    h_out, w_out = y_hw.shape[-2:]
    y_hw = y_hw.reshape(n, t, c_out, h_out, w_out).transpose(1, 2)

    rows = x[:, :, :, ::stride].permute(0, 3, 1, 2, 4)  # N x H' x C x T x W
    cols = x[..., ::stride].permute(0, 4, 1, 2, 3)  # N x W' x C x T x H
    if batch_temporal and w_tw is w_th and h == w:
        both = torch.cat([rows, cols]).reshape(2 * n * h_out, c, t, w)
        y_tw, y_th = F.conv2d(both, w_tw, stride=(1, stride), padding=1).chunk(2)
    else:
        y_tw = F.conv2d(rows.reshape(n * h_out, c, t, w), w_tw, stride=(1, stride), padding=1)
        y_th = F.conv2d(cols.reshape(n * w_out, c, t, h), w_th, stride=(1, stride), padding=1)
    y_tw = y_tw.reshape(n, h_out, c_out, t, w_out).permute(0, 2, 3, 1, 4)
    y_th = y_th.reshape(n, w_out, c_out, t, h_out).permute(0, 2, 3, 4, 1)
    return [y_hw, y_tw, y_th]


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
        impl: how the views are computed; every path gives the same numbers (tested):
            ``"reference"`` three conv3d calls with planar kernels; ``"conv2d"`` each view as
            a 2D convolution over a permuted tensor;
            ``"fused"`` CoST(a) in eval as one folded 3x3x3 convolution (see
            ``folded_kernel`` for when the kernel is cached); ``"auto"`` picks the fastest
            path measured on CPU (``python -m cost.bench ops``): fused for CoST(a) in eval on
            inputs of at least 14x14, reference otherwise.

    After every forward, ``coefficients`` holds the N x C_out x 3 coefficients the layer
    computed, and for CoST(b) ``branch_magnitude`` the RMS (per clip, N) of the max-pooled
    view features that feed the coefficient branch: with no bias and no nonlinearity before
    the softmax, that magnitude acts as a softmax temperature (docs/method.md).

    ``view_mask``: an ablation switch for analysis (``python -m cost.analysis views``). None
    (the default) changes nothing; three floats (H-W, T-W, T-H) multiply the coefficients after
    the softmax, without renormalising, e.g. ``(1, 0, 0)`` zeroes the T-W and T-H terms.
    ``coefficients`` still holds the unmasked values, so logging shows what the layer computed.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        mode: str = "b",
        stride: int = 1,
        share_weights: bool = True,
        coef_init: tuple[float, float, float] = (0.7, -0.7, -0.7),
        impl: str = "auto",
    ) -> None:
        super().__init__()
        if mode not in ("a", "b"):
            raise ValueError(f"CoST mode must be 'a' or 'b', got {mode!r}")
        if impl not in IMPLS:
            raise ValueError(f"impl={impl!r}: choose one of {', '.join(IMPLS)}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.mode, self.stride = mode, stride
        self.share_weights, self.impl = share_weights, impl

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

        self.coef_init = tuple(float(c) for c in coef_init)  # CoST(a): what drift is measured from
        self.coefficients: torch.Tensor | None = None
        self.branch_magnitude: torch.Tensor | None = None
        self.view_mask: tuple[float, float, float] | None = None
        self._fold_cache: tuple[tuple, torch.Tensor] | None = None
        # Set by the network builder so statistics can name the layer (1-based, res2..res5).
        self.layer_index: int = 0
        self.stage: int = 0
        self.unit: int = 0

    def view_weights(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if self.share_weights:
            return self.weight, self.weight, self.weight
        return self.weight, self.weight_tw, self.weight_th

    def view_outputs(self, x: torch.Tensor, impl: str = "reference") -> list[torch.Tensor]:
        """The three view feature maps (x_hw, x_tw, x_th), each N x C_out x T x H' x W'."""
        if impl == "conv2d":
            return views_conv2d(x, self.view_weights(), self.stride)
        stride = (1, self.stride, self.stride)
        return [
            F.conv3d(x, view_kernel(w, v), stride=stride, padding=_PADDING[v])
            for w, v in zip(self.view_weights(), VIEWS)
        ]

    def _path(self, x: torch.Tensor | None = None) -> str:
        """The implementation this call uses (see ``impl``)."""
        fusable = self.mode == "a" and not self.training and self.view_mask is None
        if self.impl == "auto":
            large = x is None or x.shape[-2] * x.shape[-1] >= FUSE_MIN_PIXELS
            return "fused" if fusable and large else "reference"
        return "reference" if self.impl == "fused" and not fusable else self.impl

    def folded_kernel(self) -> torch.Tensor:
        """The CoST(a) views folded into one 3x3x3 kernel (``fold_views``).

        Without autograd (eval under ``no_grad``/``inference_mode``) the kernel is cached:
        rebuilding it costs up to half the convolution at res5, and a freshly built kernel
        also pays oneDNN's weight reordering. The cache is keyed on the parameters' storage
        and version counters, so optimizer steps, ``load_state_dict``, ``.to()`` and
        in-place edits under ``no_grad`` all rebuild it; ``train()``/``eval()`` clear it.
        Writes through ``param.data`` are invisible to version counters: call
        ``clear_fold_cache()`` (or ``model.eval()``) after those.
        """
        if torch.is_grad_enabled():
            return fold_views(self.view_weights(), self.learned_coefficients())
        params = (*self.view_weights(), self.coef_logits)
        key = tuple((p.data_ptr(), p._version, p.dtype, p.device) for p in params)
        if self._fold_cache is None or self._fold_cache[0] != key:
            self._fold_cache = (key, fold_views(self.view_weights(), self.learned_coefficients()))
        return self._fold_cache[1]

    def clear_fold_cache(self) -> None:
        self._fold_cache = None

    def train(self, mode: bool = True) -> CoST:
        self.clear_fold_cache()
        return super().train(mode)

    def _apply(self, fn, recurse: bool = True):
        """`.to(memory_format=torch.channels_last_3d)` converts only 5-D tensors and raises on
        4-D ones; the 3x3 weights are converted as the 5-D 1x3x3 kernels they stand for (which
        leaves them channels-last 2-D), so the whole network can be made channels-last."""

        def fn_4d_as_5d(t):
            return fn(t.unsqueeze(2)).squeeze(2) if t.dim() == 4 else fn(t)

        return super()._apply(fn_4d_as_5d, recurse)

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        self.clear_fold_cache()
        super()._load_from_state_dict(*args, **kwargs)

    def learned_coefficients(self) -> torch.Tensor:
        """CoST(a): the C_out x 3 softmax-normalised coefficients."""
        return torch.softmax(self.coef_logits, dim=1)

    def predict_coefficients(self, views: list[torch.Tensor]) -> torch.Tensor:
        """CoST(b): N x C_out x 3 coefficients from the view features (before BN)."""
        pooled = torch.stack([v.amax(dim=(2, 3, 4)) for v in views], dim=2)  # N x C x 3
        self.branch_magnitude = pooled.detach().float().pow(2).mean(dim=(1, 2)).sqrt()
        projected = self.coef_proj(pooled.transpose(1, 2)).transpose(1, 2)  # shared over views
        return torch.softmax(self.coef_fc(projected), dim=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, path = x.shape[0], self._path(x)
        if path == "fused":
            self.coefficients = self.learned_coefficients().unsqueeze(0).expand(n, -1, -1)
            kernel = self.folded_kernel()
            return F.conv3d(x, kernel, stride=(1, self.stride, self.stride), padding=1)

        views = self.view_outputs(x, path)
        if self.mode == "a":
            a = self.learned_coefficients().unsqueeze(0).expand(n, -1, -1)
        else:
            a = self.predict_coefficients(views)
        self.coefficients = a
        if self.view_mask is not None:
            a = a * a.new_tensor(self.view_mask)
        return sum(a[:, :, i, None, None, None] * v for i, v in enumerate(views))

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, mode={self.mode!r}, stride={self.stride}, "
            f"share_weights={self.share_weights}"
        )
