"""The CoST operation at ResNet-50 res2-res5 shapes (8 frames, batch 2, 224x224 input).

Eval forward of CoST(a) and a training step (forward + backward) of CoST(b), each path
against the reference (three conv3d calls with planar kernels). Exact paths are checked
against the reference before they are timed; bf16 autocast is reported but marked
inexact (it changes the numbers by design).
"""

from __future__ import annotations

import contextlib
from typing import cast

import torch

from cost.bench import print_table, time_interleaved
from cost.models import CoST
from cost.models.cost_op import views_conv2d

# (stage, channels, frames, height = width) of the 3x3 conv inputs of R50-8x224x224, after pool2.
STAGES = [("res2", 64, 8, 56), ("res3", 128, 4, 28), ("res4", 256, 4, 14), ("res5", 512, 4, 7)]


def _eval_candidates(op: CoST, x: torch.Tensor) -> dict:
    x_cl = x.contiguous(memory_format=torch.channels_last_3d)

    def run(impl, inp, bf16=False, rebuild=False):
        def call():
            op.impl = impl
            if rebuild:
                op.clear_fold_cache()
            ctx = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
            with torch.no_grad(), ctx:
                return op(inp)

        return call

    return {
        "reference": run("reference", x),
        "conv2d": run("conv2d", x),
        "fused": run("fused", x),
        "fused, kernel rebuilt per call": run("fused", x, rebuild=True),
        "auto": run("auto", x),
        "reference+channels_last": run("reference", x_cl),
        "fused+channels_last": run("fused", x_cl),
        "fused+bf16 (inexact)": run("fused", x, bf16=True),
    }


def _train_candidates(op: CoST, x: torch.Tensor) -> dict:
    x_cl = x.detach().contiguous(memory_format=torch.channels_last_3d)
    weight = op.weight

    def step(impl, inp, bf16=False, batch_temporal=False):
        def call():
            op.zero_grad(set_to_none=True)
            inp_ = inp.detach().requires_grad_()  # as inside a network: the input needs a grad
            ctx = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
            with ctx:
                if batch_temporal:
                    views = views_conv2d(inp_, (weight, weight, weight), op.stride, batch_temporal=True)
                    a = op.predict_coefficients(views)
                    y = cast(torch.Tensor, sum(a[:, :, i, None, None, None] * v for i, v in enumerate(views)))
                else:
                    op.impl = impl
                    y = op(inp_)
            y.float().square().mean().backward()
            return y

        return call

    return {
        "reference": step("reference", x),
        "conv2d": step("conv2d", x),
        "conv2d, T-W+T-H batched": step("conv2d", x, batch_temporal=True),
        "reference+channels_last": step("reference", x_cl),
        "conv2d+bf16 (inexact)": step("conv2d", x, bf16=True),
    }


def _check_exact(candidates: dict, reference: str = "reference") -> None:
    """Every exact path must reproduce the reference output before it is timed."""
    expected = candidates[reference]().detach().float()
    for name, fn in candidates.items():
        if "inexact" in name:
            continue
        got = fn().detach().float()
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4, msg=f"{name} differs from {reference}")


def run(rounds: int = 5, batch: int = 2) -> dict:
    torch.manual_seed(0)
    results: dict[str, dict] = {"eval_cost_a": {}, "train_cost_b": {}}
    for kind, mode, make in (("eval_cost_a", "a", _eval_candidates), ("train_cost_b", "b", _train_candidates)):
        totals: dict[str, float] = {}
        rows = []
        for stage, c, t, size in STAGES:
            op = CoST(c, c, mode=mode)
            op.train(kind.startswith("train"))
            x = torch.randn(batch, c, t, size, size)
            candidates = make(op, x)
            _check_exact(candidates)
            times = time_interleaved(candidates, rounds=rounds)
            results[kind][stage] = times
            for name, sec in times.items():
                totals[name] = totals.get(name, 0.0) + sec
            rows.append(
                [stage] + [f"{times[n] * 1e3:.1f} ms ({times[n] / times['reference']:.2f}x)" for n in candidates]
            )
        rows.append(["all"] + [f"{totals[n] * 1e3:.1f} ms ({totals[n] / totals['reference']:.2f}x)" for n in totals])
        results[kind]["total"] = totals
        title = "CoST(a) eval forward" if kind == "eval_cost_a" else "CoST(b) training step (forward + backward)"
        print_table(f"{title}, batch {batch}, ratio to reference", ["stage", *totals], rows)
    eval_total, train_total = results["eval_cost_a"]["total"], results["train_cost_b"]["total"]
    results["ratios"] = {
        "fused_eval_vs_reference": eval_total["fused"] / eval_total["reference"],
        "auto_eval_vs_reference": eval_total["auto"] / eval_total["reference"],
        "best_fused_eval_vs_reference": min(eval_total["fused"], eval_total["fused+channels_last"])
        / eval_total["reference"],
        "cost_b_train_conv2d_vs_reference": train_total["conv2d"] / train_total["reference"],
    }
    print("\nratios (targets: fused CoST(a) eval <= 0.6x, CoST(b) training step <= 1.0x, aim 0.8x):")
    for k, v in results["ratios"].items():
        print(f"  {k}: {v:.2f}x")
    return results
