"""The CoST coefficients of an evaluated batch, read from the network's layers (paper Sec. 4.5).

The per-video value of a layer is its coefficients averaged over channels and over the video's
views; the statistics over videos and classes, and the CSV files, are ``cost.results.coefficients``.
"""

from __future__ import annotations

import torch

from cost.models import VIEWS, CoST
from cost.results import coefficients as results


def clip_coefficients(layers: list[CoST]) -> torch.Tensor:
    """clips x L x 3: each layer's coefficients of the last forward, averaged over channels."""
    per_layer = []
    for layer in layers:
        if layer.coefficients is None:
            raise RuntimeError(f"CoST layer {layer.layer_index} has no coefficients: run a forward first")
        per_layer.append(layer.coefficients.detach().float().mean(dim=1))  # clips x 3
    return torch.stack(per_layer, dim=1)


def clip_statistics(layers: list[CoST]) -> torch.Tensor:
    """clips x L x 2: each layer's statistics of the last forward, sharpness and branch magnitude
    (``STAT_NAMES`` of cost.results.coefficients)."""
    per_layer = []
    for layer in layers:
        assert layer.coefficients is not None  # clip_coefficients, called first, says what to do
        a = layer.coefficients.detach().float()
        sharp = a.amax(dim=2).mean(dim=1)
        mag = layer.branch_magnitude
        mag = torch.full_like(sharp, float("nan")) if mag is None else mag.detach().float().to(sharp.device)
        per_layer.append(torch.stack([sharp, mag], dim=1))
    return torch.stack(per_layer, dim=1)


def clip_independent(layers: list[CoST]) -> bool:
    """True for CoST(a): learned coefficients, the same for every clip, so they cannot rank classes."""
    return bool(layers) and all(layer.mode == "a" for layer in layers)


def video_coefficients(clip_coef: torch.Tensor, num_videos: int, num_views: int) -> torch.Tensor:
    """N x L x 3 from clips x L x 3 laid out video-major (video 0's views first): the mean over views."""
    return clip_coef.view(num_videos, num_views, *clip_coef.shape[1:]).mean(dim=1)


def batch_coefficients(layers: list[CoST], num_videos: int, num_views: int) -> torch.Tensor:
    """N x L x 3: each layer's coefficients of the last forward, averaged over channels and views."""
    if not layers:
        return torch.zeros(num_videos, 0, 3)
    return video_coefficients(clip_coefficients(layers), num_videos, num_views)


def layer_rows(layers: list[CoST], coef: torch.Tensor) -> list[dict]:
    """Rows of coefficients.csv from per-video coefficients (num_videos x L x 3); for CoST(a)
    also each view's ``init`` (softmax of the layer's coef_init) and ``drift`` (mean - init)."""
    if not layers or coef.numel() == 0:
        return []
    mean = coef.mean(dim=0)
    rows = []
    for i, layer in enumerate(layers):
        init = torch.softmax(torch.tensor(layer.coef_init, dtype=torch.float64), dim=0)
        for j, view in enumerate(VIEWS):
            row = {"layer": layer.layer_index, "stage": layer.stage, "unit": layer.unit, "view": view}
            row["mean"] = float(mean[i, j])
            if layer.mode == "a":
                row.update(init=float(init[j]), drift=float(mean[i, j]) - float(init[j]))
            rows.append(row)
    return rows


def clip_values(layers: list[CoST]) -> tuple[torch.Tensor, torch.Tensor]:
    """The last forward's clips x L x 3 coefficients and clips x L x 2 statistics, read after each
    forward of an evaluation step (the layers keep only the last one)."""
    return clip_coefficients(layers), clip_statistics(layers)


def video_values(values: list[tuple[torch.Tensor, torch.Tensor]], num_videos: int, num_views: int):
    """An evaluation step's per-video coefficients and statistics (N x L x 3, N x L x 2) from its
    forwards' ``clip_values``, in order; (None, None) for a network without CoST layers."""
    if not values:
        return None, None
    coef = video_coefficients(torch.cat([c for c, _ in values]), num_videos, num_views)
    return coef, video_coefficients(torch.cat([s for _, s in values]), num_videos, num_views)


def evaluation_rows(layers: list[CoST], res: dict, class_names: list[str] | None = None) -> dict[str, list[dict]]:
    """The rows of an evaluation's coefficient files from its per-video ``coef``, ``stats`` and
    ``label`` (``VideoMetrics.compute``): ``coef_rows`` (coefficients.csv); for a test
    (``class_names`` given) also ``class_rows`` and ``class_layer_rows``, none for CoST(a),
    whose coefficients are the same for every clip and so rank no class."""
    out = {"coef_rows": layer_rows(layers, res["coef"])}
    if class_names is not None:
        ranks = not clip_independent(layers)
        out["class_rows"] = results.class_rows(res["coef"], res["label"], class_names) if ranks else []
        out["class_layer_rows"] = (
            results.class_layer_rows(res["coef"], res["stats"], res["label"], class_names) if ranks and layers else []
        )
    return out
