"""The built-in synthetic dataset: tiny H.264 videos where half the classes need frame order.

Every video shows one textured object on a static noisy background. Classes:

===  ===============  ==========  =================================================================
idx  name             defined by  content
===  ===============  ==========  =================================================================
0    move_left        motion      grey textured square translating right-to-left
1    move_right       motion      same, left-to-right (time reverse of 0)
2    move_up          motion      same, moving upwards
3    move_down        motion      same, moving downwards (time reverse of 2)
4    rotate_cw        motion      grey textured square rotating clockwise in place
5    rotate_ccw       motion      same, counter-clockwise (time reverse of 4)
6    zoom_in          motion      grey textured square growing in place
7    zoom_out         motion      same, shrinking (time reverse of 6)
8    red_disc         appearance  red textured disc, random drift (direction and speed carry no
                                  information)
9    green_square     appearance  green textured square, random drift
10   blue_triangle    appearance  blue textured triangle, random drift
11   yellow_cross     appearance  yellow textured plus sign, random drift
12   magenta_disc     appearance  magenta textured disc, random drift
13   cyan_square      appearance  cyan textured square, random drift
14   orange_triangle  appearance  orange textured triangle, random drift
15   white_cross      appearance  white textured plus sign, random drift
===  ===============  ==========  =================================================================

Each motion pair is the time reverse of the other (start positions, angles and sizes are
drawn symmetrically), so a model that ignores frame order is at chance within a pair;
appearance classes are separable from any single frame by colour and shape. Every object's
texture is drawn the same way (``_texture``) and appearance shapes, which fill less of their
box than the motion square, are drawn 1.4x larger, so the two groups have the same
contrast (mean spatial gradient within 5 %): magnitude alone does not tell them apart
(version 3 had flat-coloured appearance objects and 1.4x the gradient energy in motion
videos). The appearance drift is slow (at most a quarter of the frame's short side over the
video), so that a textured drifting object does not move as much as a motion class's object.
Textures, sizes, positions, speeds and background are random per video.
Generation is deterministic for a seed (per-video seeds, single-threaded x264).

Layout under the root: `videos/<split>/<class>/<split>_<i>.mp4`, list files `train.txt`,
`val.txt`, `test.txt` (`relative/path label`), `classes.txt`, `meta.json`. The dataset is
written to a temporary folder and renamed at the end, under a file lock, so an interrupted
generation is redone rather than half-used.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

MOTION_CLASSES = ["move_left", "move_right", "move_up", "move_down", "rotate_cw", "rotate_ccw", "zoom_in", "zoom_out"]
SHAPES = ["disc", "square", "triangle", "cross"]
COLOURS = {
    "red": (215, 45, 40),
    "green": (40, 190, 60),
    "blue": (40, 85, 225),
    "yellow": (230, 210, 40),
    "magenta": (200, 50, 200),
    "cyan": (40, 200, 210),
    "orange": (240, 130, 30),
    "white": (235, 235, 235),
}
# Each appearance class has its own colour and a shape (colour alone separates them: a tiny
# CPU model learns it in minutes; shape is a second, harder cue).
APPEARANCE_CLASSES = [f"{c}_{SHAPES[i % 4]}" for i, c in enumerate(COLOURS)]
CLASS_NAMES = MOTION_CLASSES + APPEARANCE_CLASSES
# Every object is its base colour plus a texture drawn the same way (`_texture`): motion objects
# are grey, so that colour still tells the groups apart in a frame, but contrast does not.
# APPEARANCE_SCALE and MOTION_GREY were set so that the groups' mean spatial gradient matches
# (tests/data/test_synthetic.py). TEXTURE_STD gives the motion object version 3's contrast
# (its cells were uniform in 30-255); DRIFT, the appearance objects' largest drift over a video
# as a share of the short side, keeps their frame differences about a third of the motion
# classes' (version 4: 0.5 and texture 40, 0.6 of them). Demo numbers: docs/method.md.
TEXTURE_STD = 65.0
BRIGHT_CELL = 90.0
MOTION_GREY = 140.0
APPEARANCE_SCALE = 1.4
DRIFT = 0.25
GENERATOR_VERSION = 5
SPLITS = ("train", "val", "test")


def _shape_mask(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Inside-test in object coordinates (u, v in [-1, 1], v grows downwards)."""
    au, av_ = np.abs(u), np.abs(v)
    if shape == "disc":
        return u * u + v * v <= 0.85
    if shape == "square":
        return (au <= 0.8) & (av_ <= 0.8)
    if shape == "tile":  # the motion classes' object: the whole texture
        return (au < 1) & (av_ < 1)
    if shape == "triangle":
        return (v >= -0.85) & (v <= 0.8) & (au <= (v + 0.85) / 1.65 * 0.95)
    if shape == "cross":
        return ((au <= 0.3) & (av_ <= 0.9)) | ((av_ <= 0.3) & (au <= 0.9))
    raise ValueError(shape)


def _texture(rng: np.random.Generator) -> np.ndarray:
    """4 x 4 cells of colour offsets, drawn the same way for every object of every class.

    Added to the object's base colour, they give motion and appearance objects the same
    contrast (docs/method.md#the-built-in-set); the one bright cell makes rotation visible.
    """
    cells = rng.normal(0, TEXTURE_STD, size=(4, 4, 3))
    cells[rng.integers(0, 4), rng.integers(0, 4)] += BRIGHT_CELL
    return cells


def render_video(label: int, num_frames: int, width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """uint8 (T, H, W, 3) frames of one video of class `label`."""
    t = np.arange(num_frames, dtype=np.float64)
    frac = t / max(num_frames - 1, 1)  # 0 -> 1 over the video
    # Background: a random dark colour with static blocky noise.
    base = rng.uniform(20, 90, size=3)
    noise = rng.normal(0, 12, size=(height // 4 + 1, width // 4 + 1, 3)).repeat(4, 0).repeat(4, 1)[:height, :width]
    background = np.clip(base + noise, 0, 255)
    short = min(width, height)
    size = rng.uniform(0.34, 0.44) * short * (1 if label < len(MOTION_CLASSES) else APPEARANCE_SCALE)
    texture = _texture(rng)
    scale = np.ones(num_frames)
    name = CLASS_NAMES[label]
    if label < len(MOTION_CLASSES):
        colour, shape = np.full(3, MOTION_GREY) + rng.uniform(-15, 15, size=3), "tile"
        cx, cy = rng.uniform(0.4, 0.6) * width, rng.uniform(0.4, 0.6) * height
        x, y = np.full(num_frames, cx), np.full(num_frames, cy)
        angle0 = rng.uniform(-0.2, 0.2)  # roughly axis-aligned for translations and zooms
        angle = np.full(num_frames, angle0)
        if name in ("move_left", "move_right"):
            span = rng.uniform(0.45, 0.6) * width
            x = cx + (frac - 0.5) * span * (1 if name == "move_right" else -1)
        elif name in ("move_up", "move_down"):
            span = rng.uniform(0.4, 0.55) * height
            y = cy + (frac - 0.5) * span * (1 if name == "move_down" else -1)
        elif name in ("rotate_cw", "rotate_ccw"):
            total = rng.uniform(0.8, 1.1) * np.pi  # at most ~200 degrees: direction stays visible
            angle = rng.uniform(0, 2 * np.pi) + (frac - 0.5) * total * (1 if name == "rotate_cw" else -1)
        else:  # zoom_in / zoom_out, symmetric around scale 1
            ratio = rng.uniform(2.0, 2.6)
            s = ratio ** (frac - 0.5)
            scale = s if name == "zoom_in" else 1.0 / s
    else:
        colour_name, shape = name.split("_")
        colour = np.array(COLOURS[colour_name]) + rng.uniform(-15, 15, size=3)
        speed = rng.uniform(0.0, DRIFT) * short / max(num_frames - 1, 1)
        direction = rng.uniform(0, 2 * np.pi)
        x0, y0 = rng.uniform(0.3, 0.7) * width, rng.uniform(0.3, 0.7) * height
        x = np.clip(x0 + np.cos(direction) * speed * t, 0.2 * width, 0.8 * width)
        y = np.clip(y0 + np.sin(direction) * speed * t, 0.2 * height, 0.8 * height)
        angle = np.full(num_frames, rng.uniform(-0.3, 0.3))
    cells = np.clip(colour + texture, 0, 255)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64) + 0.5
    frames = np.empty((num_frames, height, width, 3), dtype=np.uint8)
    for i in range(num_frames):
        half = size * scale[i] / 2
        dx, dy = xs - x[i], ys - y[i]
        c, s = np.cos(angle[i]), np.sin(angle[i])
        u, v = (c * dx + s * dy) / half, (-s * dx + c * dy) / half
        img = background.copy()
        inside = _shape_mask(shape, u, v)
        cu = np.clip(((u + 1) * 2).astype(int), 0, 3)
        cv = np.clip(((v + 1) * 2).astype(int), 0, 3)
        img[inside] = cells[cv[inside], cu[inside]]
        frames[i] = img.astype(np.uint8)
    return frames


def rgb_to_yuv420p(frame: np.ndarray) -> np.ndarray:
    """BT.601 limited-range YUV 4:2:0 planes stacked as PyAV's (H * 3 / 2, W) layout.

    Done in numpy so that the bytes x264 sees depend on nothing but this code (the files
    are meant to be identical for a seed).
    """
    rgb = frame.astype(np.float64)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255
    cb = 128 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255
    cr = 128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255
    h, w = y.shape

    def sub(c):
        return c.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3)).reshape(h // 4, w)

    planes = np.concatenate([y, sub(cb), sub(cr)])
    return np.clip(np.round(planes), 0, 255).astype(np.uint8)


def encode_h264(path, frames: np.ndarray, fps: int = 25, crf: int = 18, gop: int = 16) -> None:
    """Write frames (T, H, W, 3) as an H.264 MP4 (yuv420p; width and height must be even)."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps))
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        # mbtree off: with it, x264 output varied from run to run on identical input
        stream.options = {"crf": str(crf), "g": str(gop), "bf": "2", "preset": "veryfast", "x264-params": "mbtree=0"}
        stream.codec_context.thread_count = 1  # multi-threaded x264 is not deterministic either
        for f in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb_to_yuv420p(f), format="yuv420p")))
        container.mux(stream.encode())


def _generate(root: Path, counts: dict, width: int, height: int, frames: tuple, seed: int) -> None:
    (root / "classes.txt").write_text("\n".join(CLASS_NAMES) + "\n", encoding="utf-8")
    for split_id, split in enumerate(SPLITS):
        lines = []
        for i in range(counts[split]):
            rng = np.random.default_rng([seed, split_id, i])
            label = i % len(CLASS_NAMES)
            n = int(rng.integers(frames[0], frames[1] + 1))
            rel = f"videos/{split}/{CLASS_NAMES[label]}/{split}_{i:05d}.mp4"
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            encode_h264(root / rel, render_video(label, n, width, height, rng))
            lines.append(f"{rel} {label}\n")
        (root / f"{split}.txt").write_text("".join(lines), encoding="utf-8")


@contextlib.contextmanager
def _file_lock(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def ensure_synthetic(
    root,
    num_train: int = 480,
    num_val: int = 96,
    num_test: int = 96,
    width: int = 64,
    height: int = 48,
    min_frames: int = 32,
    max_frames: int = 40,
    seed: int = 0,
    verbose: bool = True,
) -> Path:
    """Generate the dataset into `root` unless an identical one is there; returns `root`.

    Safe against concurrent callers (file lock) and interruptions (temporary folder, rename).
    A folder generated with other settings is replaced (only if it has our meta.json).
    """
    root = Path(root)
    if width % 2 or height % 2:
        raise ValueError(f"data.synthetic.width/height must be even for H.264, got {width}x{height}")
    if not 1 <= min_frames <= max_frames:
        raise ValueError(f"need 1 <= data.synthetic.min_frames <= max_frames, got {min_frames}, {max_frames}")
    meta: dict[str, Any] = {
        "generator": "cost.data.synthetic",
        "version": GENERATOR_VERSION,
        "seed": seed,
        "counts": {"train": num_train, "val": num_val, "test": num_test},
        "width": width,
        "height": height,
        "frames": [min_frames, max_frames],
        "classes": CLASS_NAMES,
    }
    meta_path = root / "meta.json"

    def up_to_date() -> bool:
        try:
            return json.loads(meta_path.read_text())["config"] == meta
        except (OSError, ValueError, KeyError):
            return False

    if up_to_date():
        return root
    with _file_lock(root.parent / f".{root.name}.lock"):
        if up_to_date():  # another process finished it while we waited
            return root
        if root.exists():
            if not meta_path.exists():
                raise FileExistsError(
                    f"{root} exists but is not a generated synthetic dataset (no meta.json); "
                    "move it away or set paths.data_dir / data.root elsewhere"
                )
            shutil.rmtree(root)
        for stale in root.parent.glob(f".{root.name}.tmp-*"):  # left by interrupted runs (we hold the lock)
            shutil.rmtree(stale, ignore_errors=True)
        tmp = root.parent / f".{root.name}.tmp-{os.getpid()}"
        tmp.mkdir(parents=True)
        start = time.time()
        if verbose:
            print(f"Generating the synthetic dataset into {root} (once) ...", flush=True)
        _generate(tmp, meta["counts"], width, height, (min_frames, max_frames), seed)
        seconds = round(time.time() - start, 1)
        (tmp / "meta.json").write_text(json.dumps({"config": meta, "seconds": seconds}, indent=1))
        os.replace(tmp, root)
        if verbose:
            print(f"Synthetic dataset ready in {seconds} s", flush=True)
    return root
