"""Parameters and multiply-accumulates of every backbone: ``python -m cost.models.summary``.

MACs come from torch's own FLOP counter (``torch.utils.flop_counter``, FLOPs / 2) on a
meta-device model, so no memory is allocated and the table prints in seconds.
"""

from __future__ import annotations

import argparse

import torch
from torch.utils.flop_counter import FlopCounterMode

from .resnet import build_model


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_macs(model: torch.nn.Module, frames: int, size: int = 224) -> int:
    """Multiply-accumulates of one clip (batch 1) in eval mode."""
    device = next(model.parameters()).device
    clip = torch.zeros(1, 3, frames, size, size, device=device)
    model.eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(clip)
    return counter.get_total_flops() // 2


def summary_rows(depths=(50, 101), frames=(8, 32), num_classes=400, size=224):
    """One dict per arch x sharing x depth x frames."""
    variants = [("c2d", True), ("c3d", True), ("cost_a", True), ("cost_a", False), ("cost_b", True), ("cost_b", False)]
    for depth in depths:
        for arch, share in variants:
            with torch.device("meta"):
                model = build_model(arch, depth, num_classes, share_weights=share)
            params = count_parameters(model)
            for t in frames:
                yield {
                    "arch": arch,
                    "share_weights": share,
                    "depth": depth,
                    "frames": t,
                    "params_M": params / 1e6,
                    "params": params,
                    "GMAC": count_macs(model, t, size) / 1e9,
                }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, default=400)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--depths", type=int, nargs="+", default=[50, 101])
    parser.add_argument("--frames", type=int, nargs="+", default=[8, 32])
    args = parser.parse_args(argv)
    print(f"| arch | sharing | depth | frames | params (M) | GMAC ({args.size}x{args.size}) |")
    print("|---|---|---|---|---|---|")
    for r in summary_rows(args.depths, args.frames, args.classes, args.size):
        sharing = "-" if r["arch"] in ("c2d", "c3d") else ("shared" if r["share_weights"] else "unshared")
        print(f"| {r['arch']} | {sharing} | R{r['depth']} | {r['frames']} | {r['params_M']:.3f} | {r['GMAC']:.2f} |")


if __name__ == "__main__":
    main()
