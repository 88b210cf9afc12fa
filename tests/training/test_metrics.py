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


def test_a_duplicate_with_another_label_or_view_count_is_a_conflict():
    """Each of label, view count and scores alone must make a second copy of a video a conflict."""
    logits = torch.tensor([[[2.0, 0.0, 0.0], [2.0, 0.0, 0.0]]])  # one video, 2 identical views
    m = VideoMetrics(num_classes=3)
    m.update(logits, torch.tensor([0]), torch.tensor([7]))
    m.update(logits, torch.tensor([1]), torch.tensor([7]))  # same scores, another label
    with pytest.raises(RuntimeError, match=r"videos \[7\] were evaluated twice"):
        m.compute()
    m = VideoMetrics(num_classes=3)
    m.update(logits, torch.tensor([0]), torch.tensor([7]))
    m.update(logits[:, :1], torch.tensor([0]), torch.tensor([7]))  # same scores, 1 view instead of 2
    with pytest.raises(RuntimeError, match="evaluated twice"):
        m.compute()
    m = VideoMetrics(num_classes=2)  # same label and views, scores 0.4, 0.6 against 0.6, 0.4
    m.update(torch.tensor([[[0.0, 0.405]]]), torch.tensor([0]), torch.tensor([7]))
    m.update(torch.tensor([[[0.405, 0.0]]]), torch.tensor([0]), torch.tensor([7]))
    with pytest.raises(RuntimeError, match="evaluated twice"):
        m.compute()


def test_two_copies_of_one_video_are_one_video():
    m = VideoMetrics(num_classes=3)
    logits = torch.tensor([[[0.0, 1.0, 0.0]]])
    m.update(logits, torch.tensor([1]), torch.tensor([4]))
    m.update(logits, torch.tensor([1]), torch.tensor([4]))
    res = m.compute()
    assert res["num_videos"] == 1 and res["duplicates"] == 1 and res["top1"] == 100.0


def test_copies_that_differ_by_float_noise_agree():
    """A padding copy evaluated in another batch differs in the last bits: within atol 1e-4 (for
    scores near 0) and rtol 1e-3 (for large ones) it is the same video."""
    m = VideoMetrics(num_classes=3)
    m.update(torch.tensor([[[0.0, 0.0, -10.0]]]), torch.tensor([0]), torch.tensor([0]))
    # p ~ 4.5e-5 -> 7.5e-5 (relative change 65 %, absolute 3e-5); p ~ 0.5 changes by 4e-4
    m.update(torch.tensor([[[0.0, 1.6e-3, -9.5]]]), torch.tensor([0]), torch.tensor([0]))
    assert m.compute()["duplicates"] == 1


def test_a_conflict_names_only_the_conflicting_videos_and_at_most_five():
    m = VideoMetrics(num_classes=2)
    logits = torch.tensor([[[3.0, 0.0]]]).expand(10, 1, 2)
    m.update(logits, torch.zeros(10, dtype=torch.long), torch.arange(10))
    m.update(logits[:1], torch.zeros(1, dtype=torch.long), torch.tensor([4]))  # an exact copy: fine
    m.update(logits[:6].flip(-1), torch.zeros(6, dtype=torch.long), torch.tensor([2, 3, 5, 6, 7, 8]))
    with pytest.raises(RuntimeError, match=r"videos \[2, 3, 5, 6, 7\] were evaluated twice"):
        m.compute()


def test_results_have_integer_ids_and_shapes_without_layers_or_videos():
    m = VideoMetrics(num_classes=4)  # no CoST layers (C2D/C3D)
    empty = m.compute()
    assert empty["probs"].shape == (0, 4) and empty["coef"].shape == (0, 0, 3)
    assert empty["views_per_video"] == 0 and empty["num_views"] == 0
    m.update(torch.randn(2, 3, 4), torch.tensor([0, 1]), torch.tensor([5, 2]))
    res = m.compute()
    assert res["coef"].shape == (2, 0, 3)
    for key in ("index", "label", "views"):
        assert res[key].dtype == torch.int64, key
    assert res["index"].tolist() == [2, 5] and res["views"].tolist() == [3, 3]


def test_states_live_on_the_metric_device_after_reset():
    """Lightning moves the metric to the model's device and resets it every epoch: the empty
    states made by reset and the states of update must be there too ("meta" stands in for a GPU)."""
    m = VideoMetrics(num_classes=4, num_layers=2).to("meta")
    m.reset()
    m.update(
        torch.zeros(2, 3, 4, device="meta"),
        torch.zeros(2, dtype=torch.long, device="meta"),
        torch.zeros(2, dtype=torch.long, device="meta"),
        torch.zeros(2, 2, 3, device="meta"),
    )
    for name in ("index", "label", "probs", "views", "coef"):
        assert [t.device.type for t in getattr(m, name)] == ["meta", "meta"], name


_EYE = torch.eye(3) * 4  # one view per video, scoring class 0, 1 or 2 highest
DDP_BATCHES = [
    # rank 0: videos 0, 1, 2 in two batches (logits, label, index)
    [(_EYE[[0, 1]], torch.tensor([0, 2]), torch.tensor([0, 1])), (_EYE[[2]], torch.tensor([2]), torch.tensor([2]))],
    # rank 1: videos 3, 4 and a padding copy of video 0, in one batch
    [(_EYE[[0, 1, 0]], torch.tensor([0, 1, 0]), torch.tensor([3, 4, 0]))],
]


def _ddp_rank(rank: int, store: str, queue) -> None:
    import datetime

    import torch.distributed as dist

    dist.init_process_group(
        "gloo", init_method=f"file://{store}", rank=rank, world_size=2, timeout=datetime.timedelta(seconds=30)
    )
    try:
        m = VideoMetrics(num_classes=3)
        for batch in DDP_BATCHES[rank]:
            m.update(*batch)
        res = m.compute()
        queue.put((rank, res["index"].tolist(), res["duplicates"], res["top1"]))
    finally:
        dist.destroy_process_group()


def test_two_processes_gather_every_video_once(tmp_path):
    """Real 2-process gloo: ranks with different numbers of batches gather the same result."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_ddp_rank, args=(r, str(tmp_path / "store"), queue)) for r in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    got = sorted(queue.get(timeout=5) for _ in range(2))
    # right: video 0 (class 0), 2 (class 2), 3 (class 0), 4 (class 1); wrong: video 1 (label 2, scores class 1)
    assert got == [(r, [0, 1, 2, 3, 4], 1, pytest.approx(80.0)) for r in range(2)]
    one = VideoMetrics(num_classes=3)  # the same batches in one process give the same
    for batch in DDP_BATCHES[0] + DDP_BATCHES[1]:
        one.update(*batch)
    res = one.compute()
    assert (res["index"].tolist(), res["duplicates"], res["top1"]) == ([0, 1, 2, 3, 4], 1, pytest.approx(80.0))
