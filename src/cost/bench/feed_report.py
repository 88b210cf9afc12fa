"""The feed benchmark's printout and JSON (`feed.run` measures): tables, ratios, the summary."""

from __future__ import annotations

import torch

from cost.bench import machine, print_table


def header(dev: torch.device, p: dict, workers: int) -> None:
    print(
        f"feed benchmark on {dev} ({torch.cuda.get_device_name() if dev.type == 'cuda' else machine()['cpu']}), "
        f"{p['arch']} R{p['depth']} 8x224, batch {p['batch']}, {workers} workers, {p['precision']}",
        flush=True,
    )


def model_table(model: dict, p: dict) -> None:
    print_table(
        f"model only, train step at 8x{p['model_crop']}x{p['model_crop']} (clips/s)",
        ["variant", "clips/s"],
        [[k, v] for k, v in model.items()],
    )


def loader_tables(loader: dict, keyints: tuple[int, ...], workers: int, dev: torch.device) -> None:
    rows = []
    for keyint in keyints:
        for w in sorted({1, workers}):
            off, on = loader[(keyint, False, w)], loader[(keyint, True, w)]
            only = loader[(keyint, "workers only", 1)] if w == 1 else float("nan")
            rows.append([keyint, w, off, on, on / off, only, only / off, on / loader[(keyint, True, 1)]])
    print_table(
        f"loader only (clips/s): CPU transforms in the workers vs device transforms (on {dev.type})",
        [
            "keyint",
            "workers",
            "CPU transforms",
            "device transforms",
            "device / CPU",
            "device, worker output alone",
            "worker alone / CPU",
            f"device: {workers} workers / 1",
        ],
        rows,
    )
    finish = loader[(250, "finish only", 0)]
    print(
        f"device transforms, the training process's part alone (preprocessor on {dev.type}): {finish:.1f} clips/s",
        flush=True,
    )
    print_table(
        f"CPU decoder, device transforms, {workers} workers (clips/s)",
        ["keyint", "decord", "pyav (seeking)", "pyav / decord"],
        [
            [
                k,
                loader[(k, "decord", workers)],
                loader[(k, "pyav", workers)],
                loader[(k, "pyav", workers)] / loader[(k, "decord", workers)],
            ]
            for k in keyints
        ],
    )


def e2e_table(e2e: dict, base: float, p: dict) -> None:
    print_table(
        f"end to end, trainer.fit at 8x{p['model_crop']}x{p['model_crop']} (clips/s)",
        ["setting", "clips/s", "e2e / model"],
        [[k, v, v / base] for k, v in e2e.items()],
    )


NAMES = {
    False: "cpu_transforms",
    True: "device_transforms",
    "workers only": "device_transforms_worker_output",
    "decord": "device_transforms_decord",
    "pyav": "device_transforms_pyav",
    "finish only": "device_transforms_finish_only",
}


def summary(
    dev: torch.device, p: dict, workers: int, quick: bool, keyints, model: dict, loader: dict, e2e: dict
) -> dict:
    """feed.json's content; prints its ratios."""
    base = model["eager"]
    loader_json = {f"keyint{k}_{NAMES[dt]}_{w}workers": v for (k, dt, w), v in loader.items()}
    best_loader = loader[(250, True, workers)]
    e2e_250 = e2e["keyint 250, device transforms"]
    out = {
        "device": torch.cuda.get_device_name() if dev.type == "cuda" else f"cpu ({machine()['cpu']})",
        "model_clips_per_s": base,
        "loader_clips_per_s": best_loader,
        "e2e_clips_per_s": e2e_250,
        "workers": workers,
        "device_finish_clips_per_s": loader[(250, "finish only", 0)],
        "preset": "quick" if quick else "full",
        "settings": p,
        "model": model,
        "loader": loader_json,
        "e2e": e2e,
        "ratios": {
            "e2e_over_model": e2e_250 / base,
            "loader_over_model": best_loader / base,
            "device_over_cpu_transforms_1worker_keyint250": loader[(250, True, 1)] / loader[(250, False, 1)],
            "worker_output_device_over_cpu_transforms_1worker_keyint250": loader[(250, "workers only", 1)]
            / loader[(250, False, 1)],
            **(
                {"keyint1_over_keyint250_1worker_device": loader[(1, True, 1)] / loader[(250, True, 1)]}
                if 1 in keyints
                else {}
            ),
            "workers_scaling_keyint250_device": loader[(250, True, workers)] / loader[(250, True, 1)],
        },
    }
    print("\nratios: " + ", ".join(f"{k} {v:.2f}" for k, v in out["ratios"].items()))
    return out
