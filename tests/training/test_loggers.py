"""ResumableCSVLogger: a resumed run keeps the history before its checkpoint and replaces
the steps it replays."""

from __future__ import annotations

from tests.helpers.training import text_rows


def test_csv_logger_keeps_history_and_replaces_replayed_steps(tmp_path):
    from cost.training.loggers import ResumableCSVLogger

    first = ResumableCSVLogger(tmp_path)
    for step in range(6):
        first.log_metrics({"train/loss": float(step)}, step)
    first.log_metrics({"val/top1": 50.0}, 3)  # another key at a step already logged
    first.save()
    path = tmp_path / "csv" / "metrics.csv"
    with open(path, "a") as f:
        f.write("9.0,,")  # a line torn by a crash
    resumed = ResumableCSVLogger(tmp_path)  # resumed from the checkpoint of step 3
    for step in range(4, 8):
        resumed.log_metrics({"train/loss": 100.0 + step}, step)
    resumed.save()
    rows = text_rows(path)
    assert [int(r["step"]) for r in rows] == list(range(8))
    loss = {int(r["step"]): float(r["train/loss"]) for r in rows}
    assert loss == {0: 0.0, 1: 1.0, 2: 2.0, 3: 3.0, 4: 104.0, 5: 105.0, 6: 106.0, 7: 107.0}
    assert [r["val/top1"] for r in rows if r["val/top1"]] == ["50.0"]
