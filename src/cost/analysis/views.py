"""``python -m cost.analysis views RUN_DIR``: how much a trained CoST network relies on its views.

The coefficients say how a layer mixes its views; they do not say what the network needs
(docs/method.md#what-the-coefficients-mean). This re-tests the run's test split, with the
run's own data and test settings (its ``config.yaml``) and the module's own test step and
video-level aggregation, under each condition:

* ``all``: nothing changed (the run's test top-1, checked against results.json);
* ``hw_only`` / ``temporal_only``: the T-W and T-H terms / the H-W term zeroed in the chosen
  CoST layers (``CoST.view_mask``, after the softmax and without renormalising);
* ``reversed``: the clips' frames in reverse order; ``static``: the middle frame repeated.

``analysis/view_reliance.csv`` gets one row per class and condition (``COLUMNS``); an earlier
analysis moves to ``analysis/previous-N/`` first.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytorch_lightning as pl
import torch

from cost import checkpoints
from cost.models import VIEWS
from cost.training import coefficients as coefs
from cost.training.module import VideoClassifier
from cost.training.rundir import CONFIG_FILE, RunLock

ABLATIONS = {"hw_only": (1.0, 0.0, 0.0), "temporal_only": (0.0, 1.0, 1.0)}
CONTROLS = {
    "reversed": lambda clips: clips.flip(-3),  # clips: ... x C x T x H x W
    "static": lambda clips: clips.narrow(-3, clips.shape[-3] // 2, 1).expand_as(clips).contiguous(),
}
COLUMNS = ["class", "condition", "layers", "videos", "top1", "true_prob", "predicted", "hw", "tw", "th"]
DATA_TARGET = "cost.data.VideoDataModule"
OUT_DIR = "analysis"


class _ClipTransform(pl.Callback):
    """Applies a control to each test batch's clips after the module's own batch transforms."""

    def __init__(self) -> None:
        self.fn = None

    def on_test_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
        if self.fn is not None:
            batch["clips"] = self.fn(batch["clips"])


def checkpoint_path(run_dir: Path, ckpt: str | None) -> Path:
    """``--ckpt``: None is the checkpoint results.json was tested with; best, last, or a path."""
    if ckpt is None:
        tested = json.loads((run_dir / "results.json").read_text()).get("checkpoint")
        if not tested:
            raise ValueError(f"{run_dir}/results.json names no tested checkpoint: pass --ckpt best|last|PATH")
        path = Path(tested)
    elif ckpt in ("best", "last"):
        path = run_dir / "checkpoints" / f"{ckpt}.ckpt"
    else:
        path = Path(ckpt).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"--ckpt: {path} does not exist (use best, last or a checkpoint path)")
    return path


def run_config(run_dir: Path) -> dict:
    """The run's resolved config.yaml as plain values; its data module must be ours."""
    from omegaconf import OmegaConf

    path = run_dir / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: RUN_DIR must be a run directory written by src/run.py")
    cfg = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
    target = cfg.get("data", {}).get("_target_")
    if target != DATA_TARGET:
        raise ValueError(f"{path}: data._target_={target!r}; the analysis builds {DATA_TARGET} only")
    return cfg


def parse_layers(value: str, num_layers: int) -> list[int]:
    """``--layers all|1,2,...`` -> 1-based CoST layer numbers."""
    if value == "all":
        return list(range(1, num_layers + 1))
    try:
        layers = sorted({int(x) for x in value.split(",") if x.strip()})
    except ValueError:
        raise ValueError(f"--layers {value!r}: write all or CoST layer numbers such as 1,2") from None
    bad = [x for x in layers if not 1 <= x <= num_layers]
    if not layers or bad:
        raise ValueError(f"--layers {value!r}: this network has CoST layers 1..{num_layers}")
    return layers


def parse_names(value: str, known, option: str) -> list[str]:
    names = [x.strip() for x in value.split(",") if x.strip() and x.strip() != "none"]
    bad = [x for x in names if x not in known]
    if bad:
        raise ValueError(f"{option} {value!r}: unknown {', '.join(bad)}; choose from {', '.join(known)} or none")
    return names


def load_module(ckpt: Path, cfg: dict) -> VideoClassifier:
    """The checkpoint's network (hyper-parameters validated by ``checkpoints``), its weights loaded."""
    hp = checkpoints.hyper_parameters(ckpt, "--ckpt")
    model = {**hp["model"], "pretrained": None}  # the weights come from the checkpoint
    module = VideoClassifier(
        model=model,
        optim=dict(hp.get("optim") or {}),
        num_classes=hp["num_classes"],
        class_names=hp["class_names"] or None,
        eval_chunk=int(cfg.get("eval_chunk", 0)),
        test_average=str(cfg.get("test_average", "softmax")),
        clip=hp["clip"],
    )
    checkpoints.load_network(module.net, ckpt, "--ckpt")
    return module


def class_rows(res: dict, class_names: list[str], condition: str, layers: str) -> list[dict]:
    """One row per class with videos: top-1 and mean true-class probability (%, 0-1), the
    most frequent prediction (ties by name) and the mean coefficients over videos and layers."""
    probs, labels = res["probs"].float().cpu(), res["label"].cpu().reshape(-1)
    pred = probs.argmax(dim=1)
    coef = res["coef"].float().cpu()
    rows = []
    for c, name in enumerate(class_names):
        mask = labels == c
        if not bool(mask.any()):
            continue
        counts = torch.bincount(pred[mask], minlength=len(class_names)).tolist()
        predicted = min(range(len(counts)), key=lambda k: (-counts[k], class_names[k]))
        row = {
            "class": name,
            "condition": condition,
            "layers": layers,
            "videos": int(mask.sum()),
            "top1": 100 * float((pred[mask] == c).float().mean()),
            "true_prob": float(probs[mask, c].mean()),
            "predicted": class_names[predicted],
        }
        mean = coef[mask].mean(dim=(0, 1)) if coef.shape[1] else torch.full((3,), float("nan"))
        row.update({v: float(mean[j]) for j, v in enumerate(VIEWS)})
        rows.append(row)
    return rows


def evaluate(run_dir, ckpt=None, ablate=(), controls=(), layers: str = "all", accelerator: str | None = None):
    """Test ``run_dir``'s split under ``all``, each ablation and each control.

    Returns (rows, summary): the CSV rows and, per condition, the overall top-1 and each
    video's temporal coefficient (mean over layers), for the console."""
    run_dir = Path(run_dir)
    cfg = run_config(run_dir)
    ckpt = checkpoint_path(run_dir, ckpt)
    module = load_module(ckpt, cfg)
    if ablate and not module.layers:
        raise ValueError("--ablate: this network has no CoST layers; use --ablate none")
    chosen = parse_layers(layers, len(module.layers)) if module.layers else []
    layer_label = "all" if chosen == list(range(1, len(module.layers) + 1)) else ",".join(map(str, chosen))
    from cost.data import VideoDataModule

    data = {k: v for k, v in cfg["data"].items() if k != "_target_"}
    dm = VideoDataModule(**data)
    tcfg = cfg.get("trainer", {})
    transform = _ClipTransform()
    trainer = pl.Trainer(
        accelerator=accelerator or tcfg.get("accelerator", "auto"),
        devices=1,
        precision=tcfg.get("precision", "32-true"),
        limit_test_batches=tcfg.get("limit_test_batches"),
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[transform],
    )
    conditions = [("all", None, None)]
    conditions += [(name, ABLATIONS[name], None) for name in ablate]
    conditions += [(name, None, CONTROLS[name]) for name in controls]
    rows, summary = [], {}
    for name, mask, fn in conditions:
        for layer in module.layers:
            layer.view_mask = mask if mask is not None and layer.layer_index in chosen else None
        transform.fn = fn
        trainer.test(module, datamodule=dm, verbose=False)
        res = module.test_results
        label = layer_label if mask is not None else "-"
        rows += class_rows(res, module.class_names, name, label)
        coef = res["coef"].float()
        temporal = (coef[..., 1] + coef[..., 2]).mean(dim=1) if coef.shape[1] else None
        summary[name] = {"top1": float(res["top1"]), "temporal": temporal}
    for layer in module.layers:
        layer.view_mask = None
    summary["_checkpoint"] = str(ckpt)
    return rows, summary


def reliance(rows: list[dict]) -> tuple[str | None, list[dict]]:
    """Per class, top-1 under ``all`` minus top-1 without temporal information (hw_only, else
    static, else reversed), largest first, ties by class name."""
    conditions = {r["condition"] for r in rows}
    without = next((c for c in ("hw_only", "static", "reversed") if c in conditions), None)
    if without is None:
        return None, []
    top1 = {(r["class"], r["condition"]): r["top1"] for r in rows}
    classes = list(dict.fromkeys(r["class"] for r in rows))
    out = [{"class": c, "drop": top1[c, "all"] - top1[c, without]} for c in classes]
    return without, sorted(out, key=coefs.rank_key("drop"))


def _pearson(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double() - a.double().mean(), b.double() - b.double().mean()
    den = float(a.norm() * b.norm())
    return float((a * b).sum()) / den if den > 0 else float("nan")


def _keep_previous(out: Path) -> None:
    """An earlier analysis moves to analysis/previous-N/ (nothing of it is overwritten)."""
    old = [p for p in out.glob("view_reliance*") if p.is_file()]
    if not old:
        return
    n = 1
    while (out / f"previous-{n}").exists():
        n += 1
    (out / f"previous-{n}").mkdir()
    for p in old:
        os.replace(p, out / f"previous-{n}" / p.name)


def run(run_dir, ckpt=None, ablate=(), controls=(), layers="all", accelerator=None, top: int = 8) -> list[dict]:
    """The ``views`` command: evaluate, write the CSV and figure, print the summary."""
    from . import plots

    run_dir = Path(run_dir)
    lock = RunLock(run_dir).acquire()  # no run may write this directory's checkpoints meanwhile
    try:
        rows, summary = evaluate(run_dir, ckpt, ablate, controls, layers, accelerator)
        out = run_dir / OUT_DIR
        out.mkdir(exist_ok=True)
        _keep_previous(out)
        coefs.write_csv(out / "view_reliance.csv", rows, COLUMNS)
        without, ranked = reliance(rows)
        order = [r["class"] for r in ranked] or sorted({r["class"] for r in rows})
        by_class = sorted(rows, key=lambda r: order.index(r["class"]))
        plots.plot_view_reliance(by_class, out / "view_reliance.png")
    finally:
        lock.release()
    _print_summary(run_dir, rows, summary, without, ranked, top)
    return rows


def _print_summary(run_dir: Path, rows, summary, without, ranked, top: int) -> None:
    ckpt = summary.pop("_checkpoint")
    print(f"View reliance of {run_dir} ({ckpt}):")
    try:
        recorded = json.loads((run_dir / "results.json").read_text())
    except (OSError, ValueError):
        recorded = {}
    for name, s in summary.items():
        line = f"  {name:14s} top-1 {s['top1']:6.2f} %"
        if name == "all" and recorded.get("top1") is not None and recorded.get("checkpoint") == ckpt:
            same = abs(recorded["top1"] - s["top1"]) <= 0.01
            line += f"  (results.json: {recorded['top1']:.2f} %{'' if same else ', DIFFERENT: check the data'})"
        base = summary["all"]["temporal"]
        if name != "all" and base is not None and s["temporal"] is not None and base.numel() > 2:
            line += f"  per-video temporal coefficient vs all: r = {_pearson(base, s['temporal']):+.3f}"
        print(line)
    if ranked:
        top1 = {(r["class"], r["condition"]): r for r in rows}
        print(f"Classes that rely most on temporal views (top-1 all - {without}; ties by name):")
        for r in ranked[:top]:
            c = r["class"]
            tc = top1[c, "all"]["tw"] + top1[c, "all"]["th"]
            print(
                f"  {c:20s} {top1[c, 'all']['top1']:6.1f} -> {top1[c, without]['top1']:6.1f} %  "
                f"(drop {r['drop']:+6.1f}; mean T-W + T-H coefficient {tc:.3f})"
            )
    print(f"Wrote {run_dir / OUT_DIR / 'view_reliance.csv'} and view_reliance.png")
