"""Classify one video with a checkpoint: the top-5 classes and the video's view coefficients.

    python -m cost.predict outputs/runs/cost_b_rtiny_synthetic_f8/checkpoints/best.ckpt VIDEO [--clips 10]

(``python src/predict.py`` is the same command.)

The network, its class names and the clip settings (frames, stride, short side) come from the
checkpoint (read weights-only); ``--frames/--stride/--short-side`` are needed only for a
checkpoint written before those were saved, and must otherwise agree with it.

The video's score is the mean softmax over ``--clips`` clips spread evenly over it (full frame
at ``--short-side``, the paper's test); for a CoST model it also prints, per layer, the mean
coefficient of each view for this video (which views it relied on).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

# predict.py's defaults for a checkpoint that carries no clip settings (the paper's 8-frame test)
_OLD_CHECKPOINT_CLIP = {"num_frames": 8, "frame_stride": 8, "test_short_side": 256}


def load_classifier(path: str | Path):
    """The network, its class names, its model config and its clip settings from a run's checkpoint."""
    from cost import checkpoints
    from cost.models.factory import build_net

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} not found (a run's checkpoints/best.ckpt or last.ckpt)")
    hp = checkpoints.hyper_parameters(path, "checkpoint")
    model_cfg = dict(hp["model"], pretrained=None)  # the trained weights follow; no ImageNet file needed
    net = build_net(model_cfg, int(hp["num_classes"]))
    net.load_state_dict(checkpoints.network_state(checkpoints.load(path, "checkpoint")))
    names = hp.get("class_names") or [str(i) for i in range(int(hp["num_classes"]))]
    return net.eval(), list(names), model_cfg, hp.get("clip")


def clip_settings(saved: dict | None, frames: int | None, stride: int | None, short_side: int | None) -> dict:
    """The checkpoint's clip settings; a command-line value that disagrees is an error."""
    asked = {"num_frames": frames, "frame_stride": stride, "test_short_side": short_side}
    flags = {"num_frames": "--frames", "frame_stride": "--stride", "test_short_side": "--short-side"}
    base = saved or _OLD_CHECKPOINT_CLIP
    if saved:
        wrong = [
            f"{flags[k]} {v} (trained with {saved[k]})" for k, v in asked.items() if v is not None and v != saved[k]
        ]
        if wrong:
            raise SystemExit(f"error: the checkpoint fixes the clip settings; drop {', '.join(wrong)}")
    return {k: (v if v is not None else base[k]) for k, v in asked.items()}


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
    ap.add_argument("--frames", type=int, default=None, help="frames per clip (default: the checkpoint's)")
    ap.add_argument("--stride", type=int, default=None, help="frame stride (default: the checkpoint's)")
    ap.add_argument("--clips", type=int, default=10)
    ap.add_argument("--short-side", type=int, default=None, help="test short side (default: the checkpoint's)")
    ap.add_argument("--top", type=int, default=5)
    args = ap.parse_args(argv)

    from cost.checkpoints import CheckpointError

    try:
        net, names, model_cfg, saved_clip = load_classifier(args.checkpoint)
    except (CheckpointError, FileNotFoundError) as err:  # the message names the file and what to do
        raise SystemExit(f"error: {err}") from None
    clip = clip_settings(saved_clip, args.frames, args.stride, args.short_side)
    probs, coefficients, layers = predict(
        net, args.video, clip["num_frames"], clip["frame_stride"], args.clips, clip["test_short_side"]
    )
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
