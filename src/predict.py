"""Classify one video with a checkpoint: the top-5 classes and the video's view coefficients.

    python src/predict.py outputs/runs/cost_b_rtiny_synthetic_f8/checkpoints/best.ckpt VIDEO \\
        [--frames 8 --stride 4 --clips 10 --short-side 48]

The video's score is the mean softmax over ``--clips`` clips spread evenly over it (full frame
at ``--short-side``, the paper's test); for a CoST model it also prints, per layer, the mean
coefficient of each view for this video (which views it relied on).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the package, whatever the cwd

import torch  # noqa: E402


def load_classifier(path: str | Path):
    """The network, its class names and its model config from a run's Lightning checkpoint."""
    from cost.training.module import build_net

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} not found (a run's checkpoints/best.ckpt or last.ckpt)")
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if "hyper_parameters" not in ckpt or "model" not in ckpt["hyper_parameters"]:
        raise ValueError(f"{path} is not a checkpoint written by src/run.py (no model config in it)")
    hp = ckpt["hyper_parameters"]
    model_cfg = dict(hp["model"], pretrained=None)  # the trained weights follow; no ImageNet file needed
    net = build_net(model_cfg, int(hp["num_classes"]))
    state = {k[len("net."):]: v for k, v in ckpt["state_dict"].items() if k.startswith("net.")}
    net.load_state_dict(state)
    names = ckpt.get("class_names") or [str(i) for i in range(int(hp["num_classes"]))]
    return net.eval(), list(names), model_cfg


@torch.no_grad()
def predict(net, video: str | Path, frames: int = 8, stride: int = 8, clips: int = 10, short_side: int = 256):
    """Mean softmax over the clips (C) and per-layer view coefficients (L x 3) of one video."""
    from cost.data import MultiViewTransform, Video, uniform_indices
    from cost.models import cost_layers
    from cost.training.coefficients import batch_coefficients

    with Video(video) as v:
        indices = uniform_indices(v.num_frames, frames, stride, clips)
        frames_u8 = v.read(indices.reshape(-1))
    transform = MultiViewTransform(short_side, num_crops=1)
    views = torch.cat([transform(frames_u8[i * frames : (i + 1) * frames]) for i in range(clips)])
    probs = torch.softmax(net(views), dim=1).mean(0)
    layers = cost_layers(net)
    coefficients = batch_coefficients(layers, 1, views.shape[0])[0]  # one video, all its clips
    return probs, coefficients, layers


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint")
    ap.add_argument("video")
    ap.add_argument("--frames", type=int, default=8, help="frames per clip (as trained)")
    ap.add_argument("--stride", type=int, default=8, help="frame stride (8 for the paper's 8-frame models)")
    ap.add_argument("--clips", type=int, default=10)
    ap.add_argument("--short-side", type=int, default=256)
    ap.add_argument("--top", type=int, default=5)
    args = ap.parse_args(argv)

    net, names, model_cfg = load_classifier(args.checkpoint)
    probs, coefficients, layers = predict(net, args.video, args.frames, args.stride, args.clips, args.short_side)
    print(f"{args.video}  ({model_cfg['arch']}, depth {model_cfg['depth']}, {args.clips} clips)")
    values, order = probs.topk(min(args.top, probs.numel()))
    for rank, (p, c) in enumerate(zip(values.tolist(), order.tolist()), 1):
        print(f"  {rank}. {names[c]:<30} {100 * p:6.2f} %")
    if layers:
        print("view coefficients of this video (mean over channels and clips):")
        print("  layer stage unit    H-W    T-W    T-H")
        for layer, (hw, tw, th) in zip(layers, coefficients.tolist()):
            print(f"  {layer.layer_index:>5} res{layer.stage} {layer.unit:>4}  {hw:.3f}  {tw:.3f}  {th:.3f}")


if __name__ == "__main__":
    main()
