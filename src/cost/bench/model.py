"""A full training step (forward, backward, SGD) of each backbone at R50 8x224x224, batch 2.

Reports each step time, each GMAC count, and for every arch the ratio of its time ratio to
its FLOP ratio versus C2D (1.0 means it costs exactly what its extra FLOPs predict).
"""

from __future__ import annotations

import copy
import time

import torch
import torch.nn.functional as F

from cost.bench import print_table, time_interleaved
from cost.models import build_model
from cost.models.summary import count_macs

VARIANTS = [
    ("c2d", "auto"),
    ("c3d", "auto"),
    ("cost_a", "auto"),
    ("cost_b", "auto"),
    ("cost_a", "reference"),
    ("cost_b", "reference"),
]


def _train_step(model: torch.nn.Module, clip: torch.Tensor, label: torch.Tensor):
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, weight_decay=1e-4)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(clip), label)
        loss.backward()
        opt.step()
        return loss

    return step


def _compiled_copy(model: torch.nn.Module, clip: torch.Tensor, label: torch.Tensor):
    """A ``Module.compile()``-d copy (what ``model.compile=true`` does), its compile time, and
    a check that it computes what the eager model computes (eval mode: no dropout)."""
    compiled = copy.deepcopy(model)
    compiled.compile()
    start = time.perf_counter()
    _train_step(compiled, clip, label)()  # the first training step compiles
    seconds = time.perf_counter() - start
    compiled.load_state_dict(model.state_dict())  # undo that step's update
    model.eval(), compiled.eval()
    with torch.no_grad():
        torch.testing.assert_close(compiled(clip), model(clip), rtol=1e-4, atol=1e-4)
    model.train(), compiled.train()
    return compiled, seconds


def run(rounds: int = 3, batch: int = 2, depth=50, frames: int = 8, size: int = 224, compile: bool = False) -> dict:
    torch.manual_seed(0)
    clip = torch.randn(batch, 3, frames, size, size)
    label = torch.randint(0, 400, (batch,))
    candidates, macs, compile_seconds = {}, {}, {}
    variants = list(VARIANTS)
    for arch, impl in variants:
        model = build_model(arch, depth, num_classes=400, cost_impl=impl)
        name = f"{arch}" if impl == "auto" else f"{arch} ({impl})"
        macs[name] = count_macs(model, frames, size) / 1e9
        model.train()
        candidates[name] = _train_step(model, clip, label)
        if compile and impl == "auto":
            compiled, compile_seconds[name] = _compiled_copy(model, clip, label)
            candidates[f"{name} (compiled)"] = _train_step(compiled, clip, label)
            macs[f"{name} (compiled)"] = macs[name]
    # two warm-up steps each: the first steps of a fresh model pay oneDNN primitive creation
    times = time_interleaved(candidates, rounds=rounds, warmup=2)
    base_t, base_m = times["c2d"], macs["c2d"]
    rows, table = [], {}
    for name, sec in times.items():
        time_ratio, flop_ratio = sec / base_t, macs[name] / base_m
        table[name] = {
            "seconds": sec,
            "GMAC": macs[name],
            "time_ratio_vs_c2d": time_ratio,
            "flop_ratio_vs_c2d": flop_ratio,
            "time_over_flop_ratio": time_ratio / flop_ratio,
        }
        rows.append([name, sec, macs[name], time_ratio, flop_ratio, time_ratio / flop_ratio])
    print_table(
        f"training step, R{depth} {frames}x{size}x{size}, batch {batch} (target: CoST time/FLOP ratio <= 1.1)",
        ["model", "seconds", "GMAC/clip", "time vs C2D", "FLOPs vs C2D", "time ratio / FLOP ratio"],
        rows,
    )
    for name, sec in compile_seconds.items():
        print(f"torch.compile of {name}: first training step took {sec:.0f} s")
        table[f"{name} (compiled)"]["compile_seconds"] = sec
    return table
