"""VideoMetrics: multi-view softmax averaging, micro top-k, duplicates and view checks."""

import pytest
import torch
from torchmetrics.functional.classification import multiclass_accuracy

from cost.training.metrics import VideoMetrics


def test_views_are_averaged_as_softmax_per_video():
    torch.manual_seed(5)
    logits = torch.randn(6, 4, 7)  # 6 videos x 4 views x 7 classes
    label = torch.tensor([0, 1, 2, 3, 4, 6])
    m = VideoMetrics(num_classes=7)
    m.update(logits[:4], label[:4], torch.arange(4))
    m.update(logits[4:], label[4:], torch.arange(4, 6))
    res = m.compute()
    # Independent of the metric code: each label's rank among the mean softmax scores, counted
    # in plain Python; this seed gives ranks 5, 4, 1, 6, 1, 3 (top-1: 2 of 6, top-5: 5 of 6).
    probs = logits.softmax(-1).mean(1).tolist()
    ranks = [1 + sum(p > row[y] for p in row) for row, y in zip(probs, label.tolist())]
    assert ranks == [5, 4, 1, 6, 1, 3]
    assert res["top1"] == pytest.approx(100 * 2 / 6) and res["top5"] == pytest.approx(100 * 5 / 6)
    assert res["average"] == pytest.approx(100 * 7 / 12)  # (2/6 + 5/6) / 2
    assert res["num_videos"] == 6 and res["views_per_video"] == 4 and res["num_views"] == 24


def test_micro_not_macro():
    # Imbalanced: class 0 has 3 videos all right, class 1 one video wrong -> micro 75, macro 50.
    logits = torch.tensor([[5.0, 0, 0], [5, 0, 0], [5, 0, 0], [5, 0, 0]])
    label = torch.tensor([0, 0, 0, 1])
    m = VideoMetrics(num_classes=3)
    m.update(logits, label, torch.arange(4))
    assert m.compute()["top1"] == pytest.approx(75.0)
    assert float(multiclass_accuracy(logits, label, 3, average="macro")) == pytest.approx(0.5)


def test_padding_duplicates_are_dropped_and_conflicts_raise():
    logits = torch.randn(3, 2, 4)
    label = torch.tensor([1, 2, 3])
    m = VideoMetrics(num_classes=4)
    m.update(logits, label, torch.arange(3))
    m.update(logits[:1], label[:1], torch.tensor([0]))  # a sampler's padding copy
    res = m.compute()
    assert res["num_videos"] == 3 and res["duplicates"] == 1
    m.update(logits[1:2] + 3 * torch.randn(1, 2, 4), label[1:2], torch.tensor([2]))  # differs
    with pytest.raises(RuntimeError, match="evaluated twice"):
        m.compute()


def test_view_counts_are_checked_and_empty_rank_is_fine():
    m = VideoMetrics(num_classes=4, num_layers=2)
    m.update(torch.randn(2, 3, 4), torch.tensor([0, 1]), torch.tensor([0, 1]))
    m.update(torch.randn(1, 2, 4), torch.tensor([0]), torch.tensor([2]))
    with pytest.raises(RuntimeError, match="numbers of views"):
        m.compute()
    empty = VideoMetrics(num_classes=4, num_layers=2)
    res = empty.compute()
    assert res["num_videos"] == 0 and res["coef"].shape == (0, 2, 3)


def test_logit_averaging_option():
    logits = torch.tensor([[[10.0, 0.0], [0.0, 3.0], [0.0, 3.0]]])  # one video, 3 views
    label = torch.tensor([1])
    # Mean softmax: class 1 (0.64 vs 0.36); mean logits: class 0 (3.33 vs 2).
    soft = VideoMetrics(num_classes=2, average="softmax")
    soft.update(logits, label, torch.tensor([0]))
    raw = VideoMetrics(num_classes=2, average="logits")
    raw.update(logits, label, torch.tensor([0]))
    assert soft.compute()["top1"] == 100.0
    assert raw.compute()["top1"] == 0.0
    with pytest.raises(ValueError, match="test_average"):
        VideoMetrics(num_classes=2, average="median")
