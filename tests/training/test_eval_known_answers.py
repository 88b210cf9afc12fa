"""Known answers for the evaluation path: stub network -> VideoClassifier -> numbers and CSVs.

A stub network (a real ``nn.Module`` holding real CoST layers) reads each clip's id from
its pixels, returns the logits chosen for that clip and sets the chosen coefficients on its
CoST layers, exactly where the production code reads them. The module then runs under a
real Lightning ``Trainer`` (test and validate), so the whole path is covered: chunked
forwards (``eval_chunk``), per-video view averaging, top-1/top-5/average, the per-video and
per-class coefficient means and the rows of coefficients.csv, class_coefficients.csv and
coefficient_curves.csv.

Every expected value comes from the tables below through plain-Python arithmetic (loops
and ``math.exp``), never from the project's metric or coefficient code; the top-k numbers
are hand-tallied from the designed ranks (see ``LABEL_RANK``).
"""

from __future__ import annotations

import math
import random

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers.logger import Logger
from torch import nn
from torch.utils.data import DataLoader

from cost.models import CoST
from cost.training import coefficients as coefs
from cost.training.coefficients import read_csv
from cost.training.module import VideoClassifier
from cost.training.outputs import EvaluationOutputs

CLASSES = ["abseiling", "bowling", "cartwheel", "dribbling", "eating", "fencing"]
C = len(CLASSES)
LN2 = math.log(2.0)

# Six videos x three clips: each clip's logits are ln(2) times these exponents (so a view's
# softmax is proportional to 2**e). Designed so that averaging softmax scores and averaging
# logits disagree, and top-1 and top-5 differ under both.
VIDEOS = [
    # label, three clips
    (0, [[9, 0, 0, 0, 0, 0], [0, 3, 0, 0, 0, 0], [0, 3, 0, 0, 0, 0]]),  # one confident clip: wins only for logits
    (2, [[0, 0, 2, 0, 0, 0], [0, 0, 1, 0, 0, 0], [1, 0, 3, 0, 0, 0]]),  # right under both
    (3, [[0, 0, 0, 1, 2, 0], [0, 0, 0, 2, 3, 0], [0, 0, 0, 1, 2, 0]]),  # second under both
    (5, [[3, 1, 2, 4, 5, 0], [3, 1, 2, 4, 5, -1], [3, 1, 2, 4, 5, 0]]),  # last under both
    (1, [[6, 10, 5, 4, 3, 2], [6, -20, 5, 4, 3, 2], [6, -20, 5, 4, 3, 2]]),  # second (softmax) / last (logits)
    (2, [[9, 0, 0, 0, 0, 0], [0, 0, 3, 0, 0, 0], [0, 0, 3, 0, 0, 0]]),  # consistent clips: wins only for softmax
]
CLIPS = 3
# Rank of each video's label among the classes (1 = best), per averaging option.
LABEL_RANK = {"softmax": [2, 1, 2, 6, 2, 1], "logits": [1, 1, 2, 6, 6, 2]}
# Hand tally of LABEL_RANK over the six videos: (top-1, top-5, average) in percent.
TOPK = {"softmax": (200 / 6, 500 / 6, 350 / 6), "logits": (200 / 6, 400 / 6, 300 / 6)}
# The loader gives the videos out of order, two per batch.
BATCHES = [[3, 0], [5, 1], [2, 4]]

LAYERS = [(1, 2, 1), (2, 3, 1), (3, 5, 2)]  # layer_index, stage, unit
CHANNELS = 2


def _coefficient_table(seed: int = 15) -> list:
    """[video][clip][layer][channel] -> (hw, tw, th): distinct rows that sum to one."""
    rnd = random.Random(seed)
    table = []
    for _ in VIDEOS:
        video = []
        for _ in range(CLIPS):
            clip = []
            for _ in LAYERS:
                rows = []
                for _ in range(CHANNELS):
                    a, b, c = (rnd.uniform(0.1, 1.0) for _ in range(3))
                    rows.append((a / (a + b + c), b / (a + b + c), c / (a + b + c)))
                clip.append(rows)
            video.append(clip)
        table.append(video)
    return table


COEF = _coefficient_table()


class StubNet(nn.Module):
    """Looks each clip's id up (its pixel value): the chosen logits out, the chosen
    coefficients set on real CoST layers. ``crops`` copies of every clip make the views."""

    def __init__(self, num_classes: int, crops: int = 1) -> None:
        super().__init__()
        assert num_classes == C
        self.cost = nn.ModuleList()
        for index, stage, unit in LAYERS:
            layer = CoST(CHANNELS, CHANNELS, mode="b")  # per-clip coefficients, as CoST(b) has
            layer.layer_index, layer.stage, layer.unit = index, stage, unit
            self.cost.append(layer)
        views = CLIPS * crops
        logits, coef = [], []
        for v, (_, clips) in enumerate(VIDEOS):
            for j in range(views):
                logits.append([e * LN2 for e in clips[j // crops]])
                coef.append(COEF[v][j // crops])
        self.register_buffer("logits", torch.tensor(logits))  # clip id x C
        self.register_buffer("coef", torch.tensor(coef))  # clip id x L x channels x 3

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        ids = clips[:, 0, 0, 0, 0].round().long()
        for i, layer in enumerate(self.cost):
            layer.coefficients = self.coef[ids, i]
        return self.logits[ids]


def _batches(views: int) -> DataLoader:
    """Batches as the test loader gives them: N x V x 3 x T x H x W, each clip filled with its id."""
    out = []
    for videos in BATCHES:
        ids = torch.tensor([[v * views + j for j in range(views)] for v in videos], dtype=torch.float32)
        out.append(
            {
                "clips": ids.view(len(videos), views, 1, 1, 1, 1).expand(-1, -1, 3, 1, 2, 2).contiguous(),
                "label": torch.tensor([VIDEOS[v][0] for v in videos]),
                "index": torch.tensor(videos),
                "skipped": [],
            }
        )
    return DataLoader(out, batch_size=None)  # the prepared batches, in this order


# ------------------------------------------------------------ plain-Python references
def _softmax(xs: list[float]) -> list[float]:
    m = max(xs)
    e = [math.exp(x - m) for x in xs]
    return [x / sum(e) for x in e]


def _video_scores(video: int, average: str) -> list[float]:
    clips = [[e * LN2 for e in clip] for clip in VIDEOS[video][1]]
    if average == "softmax":
        probs = [_softmax(clip) for clip in clips]
        return [sum(p[c] for p in probs) / len(probs) for c in range(C)]
    return _softmax([sum(clip[c] for clip in clips) / len(clips) for c in range(C)])


def _video_coef(video: int) -> list[list[float]]:
    """[layer][view]: the mean over channels and clips."""
    return [
        [
            sum(COEF[video][j][i][ch][k] for j in range(CLIPS) for ch in range(CHANNELS)) / (CLIPS * CHANNELS)
            for k in range(3)
        ]
        for i in range(len(LAYERS))
    ]


def _layer_means() -> list[list[float]]:
    per_video = [_video_coef(v) for v in range(len(VIDEOS))]
    return [[sum(p[i][k] for p in per_video) / len(VIDEOS) for k in range(3)] for i in range(len(LAYERS))]


def _class_means() -> dict[str, list[float]]:
    out = {}
    for c, name in enumerate(CLASSES):
        videos = [v for v, (label, _) in enumerate(VIDEOS) if label == c]
        if videos:  # "eating" has no video: no row
            over_layers = [
                [sum(_video_coef(v)[i][k] for i in range(len(LAYERS))) / len(LAYERS) for k in range(3)] for v in videos
            ]
            out[name] = [sum(p[k] for p in over_layers) / len(videos) for k in range(3)]
    return out


def _rank(scores: list[float], label: int) -> int:
    return 1 + sum(s > scores[label] for s in scores)


def test_the_design_gives_the_ranks_it_claims():
    """The tables mean what the comments say (guards the test data, not the project)."""
    for average, ranks in LABEL_RANK.items():
        assert [_rank(_video_scores(v, average), VIDEOS[v][0]) for v in range(len(VIDEOS))] == ranks
        top1 = 100 * sum(r == 1 for r in ranks) / len(ranks)
        top5 = 100 * sum(r <= 5 for r in ranks) / len(ranks)
        assert (top1, top5, (top1 + top5) / 2) == pytest.approx(TOPK[average])
        assert top1 != top5
    assert _video_scores(0, "softmax") != pytest.approx(_video_scores(0, "logits"), abs=0.01)


# ------------------------------------------------------------ the production path
def _classifier(average: str, crops: int, chunk: int) -> VideoClassifier:
    model = {"_target_": f"{__name__}.StubNet", "crops": crops}
    return VideoClassifier(
        model, {"lr": 0.1}, num_classes=C, class_names=CLASSES, eval_chunk=chunk, test_average=average
    )


class RecordingLogger(Logger):
    """A Lightning logger that keeps what it is given: the {val,test}/coef values go straight to
    the loggers (at the optimizer step), not through self.log."""

    def __init__(self):
        super().__init__()
        self.metrics: dict[str, float] = {}

    name, version = "recording", 0

    def log_metrics(self, metrics, step=None):
        self.metrics.update(metrics)

    def log_hyperparams(self, params, *args, **kwargs):
        pass


def _trainer(out_dir, logger=False) -> pl.Trainer:
    """A real Trainer with the callback that writes the run directory's files to ``out_dir``."""
    return pl.Trainer(
        accelerator="cpu",
        devices=1,
        logger=logger,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[EvaluationOutputs(out_dir)],
    )


@pytest.mark.parametrize("average", ["softmax", "logits"])
@pytest.mark.parametrize("crops,chunk", [(1, 0), (1, 2), (1, 4), (3, 4)])
def test_test_run_gives_the_known_numbers_and_files(tmp_path, average, crops, chunk):
    """eval_chunk 2 and 4 split videos across forwards; crops=3 gives 9 views (3 clips x 3 copies)."""
    module = _classifier(average, crops, chunk)
    recorder = RecordingLogger()
    logged = _trainer(tmp_path, recorder).test(module, dataloaders=_batches(CLIPS * crops), verbose=False)[0]
    res = module.test_results

    assert res["num_videos"] == 6 and res["views_per_video"] == 3 * crops and res["num_views"] == 18 * crops
    assert res["index"].tolist() == list(range(6))
    assert res["label"].tolist() == [label for label, _ in VIDEOS]
    want = torch.tensor([_video_scores(v, average) for v in range(6)])
    torch.testing.assert_close(res["probs"], want, rtol=0, atol=1e-6)

    top1, top5, average_ = TOPK[average]
    assert res["top1"] == pytest.approx(top1, abs=1e-4)
    assert res["top5"] == pytest.approx(top5, abs=1e-4)
    assert res["average"] == pytest.approx(average_, abs=1e-4)
    for key, value in zip(("test/top1", "test/top5", "test/average"), TOPK[average]):
        assert logged[key] == pytest.approx(value, abs=1e-4)

    # per-video coefficient means (over channels and views), videos in index order
    torch.testing.assert_close(res["coef"], torch.tensor([_video_coef(v) for v in range(6)]), rtol=0, atol=1e-6)

    layer_means = _layer_means()
    rows = read_csv(tmp_path / "coefficients.csv")
    assert [(r["layer"], r["stage"], r["unit"], r["view"]) for r in rows] == [
        (i, s, u, view) for i, s, u in LAYERS for view in ("hw", "tw", "th")
    ]
    assert [float(r["mean"]) for r in rows] == pytest.approx([m for layer in layer_means for m in layer], abs=1e-6)
    for k, view in enumerate(("hw", "tw", "th")):  # logged: mean over layers
        mean = sum(m[k] for m in layer_means) / len(LAYERS)
        assert recorder.metrics[f"test/coef/mean/{view}"] == pytest.approx(mean, abs=1e-6)
        assert recorder.metrics[f"test/coef/layer2/{view}"] == pytest.approx(layer_means[1][k], abs=1e-6)

    classes = read_csv(tmp_path / "class_coefficients.csv")
    want_classes = _class_means()
    assert (
        [r["class"] for r in classes]
        == list(want_classes)
        == ["abseiling", "bowling", "cartwheel", "dribbling", "fencing"]
    )
    for r in classes:
        hw, tw, th = want_classes[r["class"]]
        got = [float(r[k]) for k in ("hw", "tw", "th", "temporal")]
        assert got == pytest.approx([hw, tw, th, tw + th], abs=2e-6), r["class"]


def test_validation_writes_the_known_coefficient_curve(tmp_path):
    module = _classifier("softmax", 1, 2)
    logged = _trainer(tmp_path).validate(module, dataloaders=_batches(CLIPS), verbose=False)[0]
    assert logged["val/top1"] == pytest.approx(TOPK["softmax"][0], abs=1e-4)
    assert logged["val/top5"] == pytest.approx(TOPK["softmax"][1], abs=1e-4)
    rows = read_csv(tmp_path / "coefficient_curves.csv")
    assert [(r["step"], r["layer"], r["view"]) for r in rows] == [
        (0, i, view) for i, _, _ in LAYERS for view in ("hw", "tw", "th")
    ]
    assert [float(r["mean"]) for r in rows] == pytest.approx([m for layer in _layer_means() for m in layer], abs=1e-6)


# ------------------------------------------------------------ coefficient statistics and files, unit by unit
def _cost_layers(n: int) -> list[CoST]:
    layers = []
    for i in range(n):
        layer = CoST(CHANNELS, CHANNELS, mode="a")
        layer.layer_index, layer.stage, layer.unit = i + 1, 2, 1
        layers.append(layer)
    return layers


def test_no_layers_or_no_videos_give_no_coefficient_rows():
    """C2D/C3D (no CoST layer) and a run that evaluated no video write no coefficient numbers."""
    assert coefs.batch_coefficients([], 2, 3).shape == (2, 0, 3)  # what predict.py gets for C2D/C3D
    assert coefs.layer_rows(_cost_layers(2), torch.zeros(0, 2, 3)) == []  # not a row of NaN means
    assert coefs.layer_rows([], torch.zeros(2, 0, 3)) == []  # C2D/C3D: no rows, so EvaluationOutputs writes no file


def test_class_rows_of_a_single_layer():
    coef = torch.tensor([[[0.5, 0.25, 0.25]], [[0.25, 0.5, 0.25]], [[0.0, 0.0, 1.0]]])  # 3 videos x 1 layer
    rows = coefs.class_rows(coef, torch.tensor([1, 0, 1]), ["a", "b"])
    assert rows == [
        {"class": "a", "hw": 0.25, "tw": 0.5, "th": 0.25, "temporal": 0.75},
        {"class": "b", "hw": 0.25, "tw": 0.125, "th": 0.625, "temporal": 0.75},
    ]


def test_write_csv_formats_replaces_appends_and_keeps_the_old_file_on_error(tmp_path):
    path = tmp_path / "new" / "dir" / "t.csv"  # parents are created
    coefs.write_csv(path, [{"step": 1, "mean": 1 / 3}], ["step", "mean"])
    assert path.read_bytes() == b"step,mean\r\n1,0.333333\r\n"  # csv's line ends, floats with 6 decimals
    coefs.write_csv(path, [{"step": 2, "mean": 0.5}], ["step", "mean"])  # not append: replaces
    assert coefs.read_csv(path) == [{"step": 2, "mean": 0.5}]
    coefs.write_csv(path, [{"step": 3, "mean": 0.25}], ["step", "mean"], append=True)
    assert coefs.read_csv(path) == [{"step": 2, "mean": 0.5}, {"step": 3, "mean": 0.25}]
    (path.parent / ".t.csv.tmp").write_text("stale,rows\r\nof,a killed writer\r\n")
    with pytest.raises(KeyError):  # the second row misses a column: the old file must survive
        coefs.write_csv(path, [{"step": 4, "mean": 0.0}, {"step": 5}], ["step", "mean"])
    assert coefs.read_csv(path) == [{"step": 2, "mean": 0.5}, {"step": 3, "mean": 0.25}]
    coefs.write_csv(path, [{"step": 6, "mean": 0.0}], ["step", "mean"])  # a stale temporary file is not reused
    assert path.read_bytes() == b"step,mean\r\n6,0.000000\r\n"
    assert sorted(p.name for p in path.parent.iterdir()) == ["t.csv"]


def test_a_class_name_with_a_line_break_reads_back_unchanged(tmp_path):
    """csv quotes a field holding "\\r\\n"; the reader must not turn it into "\\n" (universal newlines)."""
    path = tmp_path / "class_coefficients.csv"
    row = {"class": "two\r\nlines", "hw": 0.5, "tw": 0.25, "th": 0.25, "temporal": 0.5}
    coefs.write_csv(path, [row], coefs.CLASS_COLUMNS)
    assert coefs.read_csv(path) == [row]
