"""The feed benchmark's report: tables and feed.json built from measured numbers (given here,
so the ratios can be checked exactly)."""

import torch

from cost.bench import feed, feed_report


def _loader(keyints, workers):
    """Measurements keyed as `feed.measure_loader` keys them, with round numbers."""
    out = {}
    for k in keyints:
        for w in sorted({1, workers}):
            out[(k, False, w)], out[(k, True, w)] = 10.0 * w, 20.0 * w
        out[(k, "workers only", 1)] = 30.0
        out[(k, "decord", workers)], out[(k, "pyav", workers)] = 40.0, 50.0
    out[(250, "finish only", 0)] = 100.0
    return out


def test_summary_holds_every_measurement_and_the_ratios(capsys):
    p = dict(feed.QUICK, copies=8)
    model, e2e = {"eager": 8.0}, {"keyint 250, device transforms": 4.0, "keyint 250, CPU transforms": 2.0}
    loader = _loader((250, 1), 3)
    out = feed_report.summary(torch.device("cpu"), p, 3, True, (250, 1), model, loader, e2e)
    assert out["model_clips_per_s"] == 8.0 and out["loader_clips_per_s"] == 60.0 and out["e2e_clips_per_s"] == 4.0
    assert out["device_finish_clips_per_s"] == 100.0 and out["preset"] == "quick" and out["workers"] == 3
    assert out["loader"]["keyint250_device_transforms_3workers"] == 60.0
    assert out["loader"]["keyint1_device_transforms_decord_3workers"] == 40.0
    assert out["loader"]["keyint250_device_transforms_finish_only_0workers"] == 100.0
    assert len(out["loader"]) == len(loader)
    assert out["ratios"] == {
        "e2e_over_model": 0.5,
        "loader_over_model": 7.5,
        "device_over_cpu_transforms_1worker_keyint250": 2.0,
        "worker_output_device_over_cpu_transforms_1worker_keyint250": 3.0,
        "keyint1_over_keyint250_1worker_device": 1.0,
        "workers_scaling_keyint250_device": 3.0,
    }
    assert capsys.readouterr().out.strip().startswith("ratios: e2e_over_model 0.50, loader_over_model 7.50")
    # without keyint 1 there is no keyint-1 ratio
    out = feed_report.summary(torch.device("cpu"), p, 1, False, (250,), model, _loader((250,), 1), e2e)
    assert "keyint1_over_keyint250_1worker_device" not in out["ratios"] and out["preset"] == "full"


def test_tables_print_each_measurement(capsys):
    p = dict(feed.QUICK)
    feed_report.model_table({"eager": 8.0}, p)
    feed_report.loader_tables(_loader((250, 16), 2), (250, 16), 2, torch.device("cpu"))
    feed_report.e2e_table({"keyint 250, device transforms": 4.0}, 8.0, p)
    text = capsys.readouterr().out
    assert "model only, train step at 8x112x112 (clips/s)" in text
    assert "loader only (clips/s): CPU transforms in the workers vs device transforms (on cpu)" in text
    assert "preprocessor on cpu): 100.0 clips/s" in text
    assert "CPU decoder, device transforms, 2 workers (clips/s)" in text
    assert "end to end, trainer.fit at 8x112x112 (clips/s)" in text
