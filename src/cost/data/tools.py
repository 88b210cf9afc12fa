"""Dataset tools: `python -m cost.data.tools {validate,resize,build-list} ...`.

* validate: open every listed video in parallel (header, first and last frame); write a clean
  list, a report of the unreadable ones with the error of each (frames over
  --max-frame-pixels included), and a list of the rotated ones (read upright).
* resize: re-encode a folder of videos to a short side (320) as H.264 with frequent keyframes
  (`--keyint 1`: every frame a keyframe, the cheapest to sample), keeping the folder layout;
  resumable (finished files are skipped, each file is written under a temporary name first)
  and parallel.
* build-list: Kinetics CSV or Moments CSV -> list file `relative/path label` + classes.txt.

A path with a line break or another control character would corrupt a line-based list, and
one with bytes that are not UTF-8 cannot be written into a UTF-8 list, so every tool reports
it as unusable (shown escaped: \n, \x1b, \xff) and never writes it into a list.
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import sys
import unicodedata
from concurrent.futures import ProcessPoolExecutor
from fractions import Fraction
from pathlib import Path

import numpy as np

from . import annotations as ann
from .decode import MAX_FRAME_PIXELS
from .manifest import Manifest


def _progress(items, total: int, description: str):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn(description), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, transient=not sys.stderr.isatty()) as bar:
        task = bar.add_task(description, total=total)
        for item in items:
            bar.advance(task)
            yield item


def _pool(workers: int):
    return ProcessPoolExecutor(max_workers=max(1, workers))


# Control characters (newline, tab, ...), line/paragraph separators, undecodable bytes.
_UNSAFE_CATEGORIES = ("Cc", "Zl", "Zp", "Cs")


def _is_unsafe(ch: str) -> bool:
    return unicodedata.category(ch) in _UNSAFE_CATEGORIES


def _undecodable(ch: str) -> bool:
    """A byte of a file name that is not UTF-8, as os.walk gives it (surrogateescape: U+DC80..U+DCFF)."""
    return "\udc80" <= ch <= "\udcff"


def _escaped(ch: str) -> str:
    if _undecodable(ch):
        return f"\\x{ord(ch) - 0xDC00:02x}"  # the byte itself
    return ch.encode("unicode_escape", "backslashreplace").decode("ascii")


def shown(path: str) -> str:
    """`path` with each unsafe character escaped (\\n, \\x1b, \\u2028, a non-UTF-8 byte as \\xff),
    safe to print on one line."""
    return "".join(_escaped(ch) if _is_unsafe(ch) else ch for ch in path)


def unsafe_name(path: str) -> str | None:
    """Why `path` cannot go into a list file, or None if it can."""
    raw = sorted({f"0x{ord(ch) - 0xDC00:02x}" for ch in path if _undecodable(ch)})
    if raw:
        return f"unusable file name (bytes {', '.join(raw)} are not UTF-8); rename the file"
    bad = sorted({f"U+{ord(ch):04X}" for ch in path if _is_unsafe(ch)})
    if not bad:
        return None
    return f"unusable file name (contains {', '.join(bad)}: a line break or control character); rename the file"


def check_video(path: str, max_pixels: int | None = MAX_FRAME_PIXELS) -> tuple[str | None, int]:
    """(None if the video opens and its first and last frames decode, else the error text;
    degrees clockwise a player turns its frames, as the reader does)."""
    from .decode import Video

    try:
        with Video(path, max_pixels=max_pixels, max_pixels_key="--max-frame-pixels") as v:
            v.read([0, v.num_frames - 1])
            return None, v.rotation or 0
    except Exception as e:  # noqa: BLE001 - report every failure, whatever raised it
        return f"{type(e).__name__}: {e}", 0


def _load_manifest(args) -> Manifest:
    if args.format == "folder":
        return ann.read_class_folders(args.annotations)
    return ann.read_list_file(
        args.annotations, args.root or Path(args.annotations).parent, key="annotations", videos_key="--root"
    )


def validate(args) -> int:
    m = _load_manifest(args)
    errors = [unsafe_name(m.relpath(i)) for i in range(len(m))]
    rotation = [0] * len(m)
    usable = [i for i, e in enumerate(errors) if e is None]
    paths = [m.path(i) for i in usable]
    check = functools.partial(check_video, max_pixels=args.max_frame_pixels or None)
    with _pool(args.workers) as pool:
        for i, (e, r) in zip(usable, _progress(pool.map(check, paths, chunksize=8), len(paths), "validate")):
            errors[i], rotation[i] = e, r
    bad = [i for i, e in enumerate(errors) if e is not None]
    turned = [i for i, r in enumerate(rotation) if r]
    out = Path(args.out or Path(args.annotations).with_suffix(""))
    clean, report = out.parent / f"{out.name}.clean.txt", out.parent / f"{out.name}.unreadable.tsv"
    rotated = out.parent / f"{out.name}.rotated.tsv"
    m.subset(np.array([e is None for e in errors], dtype=bool)).write_list(clean)
    with open(report, "w", encoding="utf-8") as f:
        f.write("path\terror\n")
        for i in bad:
            f.write(f"{shown(m.relpath(i))}\t{shown(str(errors[i]))}\n")
    with open(rotated, "w", encoding="utf-8") as f:
        f.write("path\tclockwise_degrees\n")
        for i in turned:
            f.write(f"{shown(m.relpath(i))}\t{rotation[i]}\n")
    print(
        f"{len(m) - len(bad)} of {len(m)} videos readable; clean list: {clean}; unreadable ({len(bad)}): {report}; "
        f"rotated by their metadata, read upright ({len(turned)}): {rotated}"
    )
    return 0


def resize_video(src: str, dst: str, short_side: int = 320, keyint: int = 16, crf: int = 23) -> str:
    """Re-encode one video as H.264 MP4 with short side `short_side` (never upscaled)."""
    import av

    if os.path.exists(dst):
        return "skipped"
    tmp = f"{dst}.part-{os.getpid()}.mp4"
    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    try:
        with av.open(src) as inp, av.open(tmp, "w", format="mp4") as out:
            s_in = inp.streams.video[0]
            h, w = s_in.codec_context.height, s_in.codec_context.width
            scale = min(1.0, short_side / min(h, w))
            nh, nw = max(2, round(h * scale / 2) * 2), max(2, round(w * scale / 2) * 2)
            rate = s_in.average_rate or Fraction(25)
            s_out = out.add_stream("libx264", rate=rate)
            s_out.width, s_out.height, s_out.pix_fmt = nw, nh, "yuv420p"
            s_out.options = {"crf": str(crf), "g": str(keyint), "preset": "veryfast"}
            step = 1 / Fraction(rate)
            for i, frame in enumerate(inp.decode(s_in)):
                if i == 0 and frame.rotation:
                    s_out.set_display_rotation(frame.rotation)  # a phone video stays upright
                f = frame.reformat(width=nw, height=nh, format="yuv420p")
                f.pts, f.time_base = i, step  # constant frame rate, numbered from 0
                out.mux(s_out.encode(f))
            out.mux(s_out.encode())
        os.replace(tmp, dst)
        return "done"
    except Exception as e:  # noqa: BLE001 - any failure: remove the partial file, report it, go on
        if os.path.exists(tmp):
            os.remove(tmp)
        return f"failed: {type(e).__name__}: {e}"


def _resize_one(job):
    problem = unsafe_name(job[0])
    return job[0], f"failed: {problem}" if problem else resize_video(*job)


def resize(args) -> int:
    src, dst = Path(args.src), Path(args.dst)
    if not src.is_dir():
        raise SystemExit(f"source folder {src} does not exist")
    jobs = []
    for dirpath, _, files in os.walk(src):
        for f in sorted(files):
            if os.path.splitext(f)[1].lower() in ann.VIDEO_EXTENSIONS:
                rel = os.path.relpath(os.path.join(dirpath, f), src)
                jobs.append(
                    (
                        str(src / rel),
                        str(dst / (os.path.splitext(rel)[0] + ".mp4")),
                        args.short_side,
                        args.keyint,
                        args.crf,
                    )
                )
    with _pool(args.workers) as pool:
        results = list(_progress(pool.map(_resize_one, jobs), len(jobs), "resize"))
    failed = [(p, r) for p, r in results if r.startswith("failed")]
    counts = {k: sum(r.startswith(k) for _, r in results) for k in ("done", "skipped", "failed")}
    print(f"resized {counts['done']}, already there {counts['skipped']}, failed {counts['failed']} -> {dst}")
    for p, r in failed:
        print(f"  {shown(p)}: {r}")
    return 1 if failed else 0


def build_list(args) -> int:
    videos = Path(args.videos)
    if args.format == "kinetics":
        names = ann.read_class_names(args.classes, "--classes") if args.classes else None
        m = ann.read_kinetics_csv(args.csv, videos, names, key="csv", videos_key="--videos")
    else:
        if not args.categories:
            raise SystemExit("moments needs --categories moments_categories.txt")
        m = ann.read_moments_csv(
            args.csv, videos, ann.read_moments_categories(args.categories), key="csv", videos_key="--videos"
        )
    if (m.labels < 0).any():
        raise SystemExit(
            f"{args.csv} has no 'label' column (Kinetics' test CSV has none), and a list file needs a "
            "label on every line; build lists from the labelled train and validate CSVs"
        )
    root = Path(args.root) if args.root else videos
    for name in m.class_names:
        if unsafe_name(name):
            raise SystemExit(
                f"class name {shown(name)!r} in {args.csv} contains a line break or control character; fix the CSV"
            )
    present = m.exists()
    keep = present.copy() if args.skip_missing else np.ones(len(m), dtype=bool)
    rel = [os.path.relpath(m.path(i), root) for i in range(len(m))]
    unsafe = [i for i, r in enumerate(rel) if unsafe_name(r)]
    keep[unsafe] = False
    for i in unsafe:
        print(f"  left out {shown(rel[i])}: {unsafe_name(rel[i])}", file=sys.stderr)
    m = m.subset(keep)
    rel = [r for r, k in zip(rel, keep) if k]
    out = Manifest.from_lists(root, rel, m.labels, m.class_names)
    out.write_list(args.out)
    classes = Path(args.out).parent / "classes.txt"
    classes.write_text("\n".join(out.class_names.tolist()) + "\n", encoding="utf-8")
    print(
        f"wrote {len(out)} videos to {args.out} ({int((~present).sum())} listed but missing"
        f"{', left out' if args.skip_missing else ''}; {len(unsafe)} with unusable names, left out); "
        f"classes: {classes}"
    )
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m cost.data.tools", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    v = sub.add_parser("validate", help="find unreadable videos; write a clean list and a report")
    v.add_argument("annotations", help="list file (`path label` a line), or a class-folder root with --format folder")
    v.add_argument("--format", choices=("list", "folder"), default="list")
    v.add_argument("--root", help="folder the list's paths are relative to (default: the list's folder)")
    v.add_argument("--out", help="output prefix (default: the list path without extension)")
    v.add_argument("--workers", type=int, default=os.cpu_count())
    v.add_argument(
        "--max-frame-pixels",
        type=int,
        default=MAX_FRAME_PIXELS,
        help=f"frames with more pixels are unreadable (default {MAX_FRAME_PIXELS}: 4K UHD either way; 0: no limit)",
    )
    r = sub.add_parser("resize", help="re-encode to a short side with frequent keyframes (resumable)")
    r.add_argument("src")
    r.add_argument("dst")
    r.add_argument("--short-side", type=int, default=320)
    r.add_argument(
        "--keyint",
        type=int,
        default=16,
        help="keyframe interval in frames; 1 = every frame a keyframe (all-intra: more bytes, faster "
        "clip reading, see README)",
    )
    r.add_argument("--crf", type=int, default=23)
    r.add_argument("--workers", type=int, default=os.cpu_count())
    b = sub.add_parser("build-list", help="Kinetics or Moments CSV -> list file + classes.txt")
    b.add_argument("format", choices=("kinetics", "moments"))
    b.add_argument("csv")
    b.add_argument("--videos", required=True, help="folder holding this split's videos")
    b.add_argument("--out", required=True)
    b.add_argument("--root", help="make paths relative to this folder (default: --videos)")
    b.add_argument("--classes", help="Kinetics: class names file from the train split (for val/test)")
    b.add_argument("--categories", help="Moments: moments_categories.txt")
    b.add_argument("--skip-missing", action="store_true", help="leave out videos missing on disk")
    args = p.parse_args(argv)
    logging.basicConfig(format="%(levelname)s: %(message)s")  # the readers' warnings (repeated rows)
    try:
        return {"validate": validate, "resize": resize, "build-list": build_list}[args.command](args)
    except (ValueError, FileNotFoundError) as e:  # a bad annotation file: its file:line message, no traceback
        raise SystemExit(f"error: {e}") from None


if __name__ == "__main__":
    sys.exit(main())
