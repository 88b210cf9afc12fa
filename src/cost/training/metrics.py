"""Video-level metrics that stay exact under DDP.

Each evaluation item is one video with all its views (N x V x C scores). `VideoMetrics`
keeps, per video, its index in the split, label, softmax averaged over the views, number of
views and the per-layer mean CoST coefficients and statistics (sharpness, branch magnitude).
At compute the states are gathered from every rank, duplicates (a sampler padding a rank
with videos another rank already evaluated) are
dropped by index after checking they agree, the view counts are checked, and top-1/top-5 come
from torchmetrics' micro-averaged accuracy (the fraction of videos, not a mean over classes).
"""

from __future__ import annotations

import torch
from torchmetrics import Metric
from torchmetrics.functional.classification import multiclass_accuracy


class VideoMetrics(Metric):
    """Per-video top-1/top-5/average and coefficient statistics over a split."""

    full_state_update = False

    def __init__(self, num_classes: int, num_layers: int = 0, average: str = "softmax", **kwargs) -> None:
        super().__init__(**kwargs)
        if average not in ("softmax", "logits"):
            raise ValueError(f"test_average={average!r}: choose 'softmax' (the paper's reading) or 'logits'")
        self.num_classes, self.num_layers, self.average = int(num_classes), int(num_layers), average
        for name in ("index", "label", "probs", "views", "coef", "stats"):
            self.add_state(name, default=[], dist_reduce_fx="cat")
        self._add_empty()

    def _add_empty(self) -> None:
        # Every rank holds at least one (possibly 0-row) tensor of the right shape, so the
        # cross-rank gather works when a rank evaluated nothing (e.g. all videos skipped).
        dev = self.device
        self.index.append(torch.zeros(0, dtype=torch.long, device=dev))
        self.label.append(torch.zeros(0, dtype=torch.long, device=dev))
        self.probs.append(torch.zeros(0, self.num_classes, device=dev))
        self.views.append(torch.zeros(0, dtype=torch.long, device=dev))
        self.coef.append(torch.zeros(0, self.num_layers, 3, device=dev))
        self.stats.append(torch.zeros(0, self.num_layers, 2, device=dev))

    def reset(self) -> None:
        super().reset()
        self._add_empty()

    def update(
        self,
        logits: torch.Tensor,
        label: torch.Tensor,
        index: torch.Tensor,
        coef: torch.Tensor | None = None,
        stats: torch.Tensor | None = None,
    ) -> None:
        """``logits``: N x V x C (or N x C for one view); ``coef``: N x L x 3 and ``stats``:
        N x L x 2 (view-averaged)."""
        if logits.dim() == 2:
            logits = logits.unsqueeze(1)
        n, v = logits.shape[:2]
        if self.average == "softmax":  # [reading] average of the views' softmax scores
            probs = torch.softmax(logits.float(), dim=-1).mean(dim=1)
        else:  # average the raw scores, then normalise
            probs = torch.softmax(logits.float().mean(dim=1), dim=-1)
        self.index.append(index.detach().long().view(-1))
        self.label.append(label.detach().long().view(-1))
        self.probs.append(probs.detach())
        self.views.append(torch.full((n,), v, dtype=torch.long, device=probs.device))
        if coef is None:
            coef = probs.new_zeros(n, self.num_layers, 3)
        self.coef.append(coef.detach().float())
        if stats is None:
            stats = probs.new_zeros(n, self.num_layers, 2)
        self.stats.append(stats.detach().float())

    def _unique(self) -> dict[str, torch.Tensor]:
        cat = lambda x: torch.cat(x) if isinstance(x, list) else x  # noqa: E731
        index, label, probs = cat(self.index), cat(self.label), cat(self.probs)
        views, coef, stats = cat(self.views), cat(self.coef), cat(self.stats)
        order = torch.argsort(index, stable=True)
        index, label, probs, views, coef, stats = (t[order] for t in (index, label, probs, views, coef, stats))
        keep = torch.ones_like(index, dtype=torch.bool)
        if index.numel() > 1:
            dup = index[1:] == index[:-1]
            keep[1:] = ~dup
            if dup.any():
                first = torch.nonzero(keep).squeeze(1)
                group = torch.cumsum(keep.long(), 0) - 1
                ref = first[group]
                same = (label == label[ref]) & (views == views[ref])
                same &= torch.isclose(probs, probs[ref], atol=1e-4, rtol=1e-3).all(dim=1)
                if not bool(same.all()):
                    bad = index[~same][:5].tolist()
                    raise RuntimeError(
                        f"videos {bad} were evaluated twice with different results: the evaluation "
                        "loader must give each video once (the sampler may only pad with exact copies)"
                    )
        return {
            "index": index[keep],
            "label": label[keep],
            "probs": probs[keep],
            "views": views[keep],
            "coef": coef[keep],
            "stats": stats[keep],
            "duplicates": int((~keep).sum()),
        }

    def compute(self) -> dict:
        u = self._unique()
        n = int(u["index"].numel())
        out = {"num_videos": n, "duplicates": u["duplicates"], "label": u["label"], "index": u["index"]}
        out["probs"] = u["probs"]  # num_videos x C: each video's averaged scores
        if n:
            counts = torch.unique(u["views"])
            if counts.numel() != 1:
                raise RuntimeError(
                    f"videos were evaluated with different numbers of views {counts.tolist()}: "
                    "every video must give all its clips x crops"
                )
            out["views_per_video"] = int(counts[0])
            top1 = multiclass_accuracy(u["probs"], u["label"], self.num_classes, average="micro", top_k=1)
            k5 = min(5, self.num_classes)
            top5 = multiclass_accuracy(u["probs"], u["label"], self.num_classes, average="micro", top_k=k5)
            out["top1"], out["top5"] = float(top1) * 100, float(top5) * 100
        else:
            out["views_per_video"], out["top1"], out["top5"] = 0, float("nan"), float("nan")
        out["average"] = (out["top1"] + out["top5"]) / 2
        out["num_views"] = n * out["views_per_video"]
        out["coef"] = u["coef"]  # num_videos x L x 3
        out["stats"] = u["stats"]  # num_videos x L x 2 (coefficients.STAT_NAMES)
        out["probs"], out["views"] = u["probs"], u["views"]  # per video: class scores, number of views
        return out
