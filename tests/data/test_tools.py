"""The dataset CLI on a small folder of real videos (run as `python -m cost.data.tools`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import av
import pytest

from cost.data import count_frames, read_list_file


def run_tool(*args, cwd=None):
    proc = subprocess.run(
        [sys.executable, "-m", "cost.data.tools", *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=120
    )
    return proc


def test_validate_writes_clean_list_and_report(tmp_path, video_dir, bad_videos):
    root = tmp_path / "ds"
    lines = []
    for i, name in enumerate(["h264_nob.mkv", "mpeg4.avi", "h264_bframes_ntsc.mp4"]):
        (root / "ok").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(video_dir / name, root / "ok" / name)
        lines.append(f"ok/{name} {i}")
    for p in bad_videos.values():
        (root / "bad").mkdir(exist_ok=True)
        shutil.copyfile(p, root / "bad" / p.name)
        lines.append(f"bad/{p.name} 1")
    lines.append("bad/never_there.mp4 2")
    (root / "train.txt").write_text("\n".join(lines) + "\n")
    proc = run_tool("validate", root / "train.txt", "--workers", 2)
    assert proc.returncode == 0, proc.stderr
    assert "3 of 8 videos readable" in proc.stdout
    clean = read_list_file(root / "train.clean.txt", root)
    assert [clean.relpath(i) for i in range(len(clean))] == [
        f"ok/{n}" for n in ["h264_nob.mkv", "mpeg4.avi", "h264_bframes_ntsc.mp4"]
    ]
    assert clean.labels.tolist() == [0, 1, 2]
    report = (root / "train.unreadable.tsv").read_text().splitlines()
    assert report[0] == "path\terror" and len(report) == 6
    errors = dict(line.split("\t", 1) for line in report[1:])
    assert "empty" in errors["bad/empty.mp4"] and "not found" in errors["bad/never_there.mp4"]
    assert "no video stream" in errors["bad/audio_only.wav"]


def test_resize_keeps_layout_and_resumes(tmp_path, video_dir):
    src, dst = tmp_path / "src", tmp_path / "dst"
    (src / "a").mkdir(parents=True)
    (src / "b" / "c").mkdir(parents=True)
    shutil.copyfile(video_dir / "h264_nob.mkv", src / "a" / "one.mkv")
    shutil.copyfile(video_dir / "mpeg4.avi", src / "b" / "c" / "two.avi")
    (src / "b" / "notes.txt").write_text("skip me")
    proc = run_tool("resize", src, dst, "--short-side", 32, "--keyint", 4, "--workers", 2)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert "resized 2, already there 0, failed 0" in proc.stdout
    out = sorted(p.relative_to(dst).as_posix() for p in dst.rglob("*") if p.is_file())
    assert out == ["a/one.mp4", "b/c/two.mp4"]
    for rel, orig in (("a/one.mp4", src / "a" / "one.mkv"), ("b/c/two.mp4", src / "b" / "c" / "two.avi")):
        with av.open(str(dst / rel)) as c:
            s = c.streams.video[0]
            assert (s.codec_context.height, s.codec_context.width) == (32, 42)  # 48x64 -> short side 32
            keyframes = [p.is_keyframe for p in c.demux(s) if p.size]
        assert count_frames(dst / rel) == count_frames(orig)
        assert sum(keyframes) >= len(keyframes) // 4  # a keyframe every 4 frames
    again = run_tool("resize", src, dst, "--short-side", 32, "--workers", 1)
    assert "resized 0, already there 2, failed 0" in again.stdout


def test_build_list_from_kinetics_and_moments(tmp_path, video_dir):
    vids = tmp_path / "k" / "val"
    (vids / "zumba").mkdir(parents=True)
    shutil.copyfile(video_dir / "h264_nob.mkv", vids / "zumba" / "abc_000001_000011.mkv")
    (tmp_path / "k" / "val.csv").write_text(
        "label,youtube_id,time_start,time_end,split\nzumba,abc,1,11,val\nabseiling,gone,0,10,val\n"
    )
    out = tmp_path / "lists" / "val.txt"
    proc = run_tool("build-list", "kinetics", tmp_path / "k" / "val.csv", "--videos", vids, "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert "1 listed but missing" in proc.stdout
    assert out.read_text().splitlines() == ["zumba/abc_000001_000011.mkv 1", "gone_000000_000010.mp4 0"]
    assert (out.parent / "classes.txt").read_text().split() == ["abseiling", "zumba"]
    proc = run_tool(
        "build-list",
        "kinetics",
        tmp_path / "k" / "val.csv",
        "--videos",
        vids,
        "--out",
        out,
        "--skip-missing",
        "--root",
        tmp_path / "k",
    )
    assert out.read_text().splitlines() == ["val/zumba/abc_000001_000011.mkv 1"]

    m = tmp_path / "m"
    (m / "training" / "run").mkdir(parents=True)
    (m / "moments_categories.txt").write_text("run,0\nsit,1\n")
    (m / "trainingSet.csv").write_text("run/a.mp4,run,3,0\nsit/b.mp4,sit,2,1\n")
    proc = run_tool(
        "build-list",
        "moments",
        m / "trainingSet.csv",
        "--videos",
        m / "training",
        "--categories",
        m / "moments_categories.txt",
        "--out",
        m / "train.txt",
    )
    assert proc.returncode == 0, proc.stderr
    assert (m / "train.txt").read_text().splitlines() == ["run/a.mp4 0", "sit/b.mp4 1"]


@pytest.mark.slow  # a subprocess run of the tool; test_validate_writes_clean_list_and_report is the fast one
def test_validate_lists_the_cut_faststart_file_as_unreadable(tmp_path, video_dir, cut_faststart):
    """Issue 11: its header lists 280 frames but only part of them decode; it used to pass as clean."""
    (tmp_path / "v").mkdir()
    shutil.copyfile(cut_faststart, tmp_path / "v" / "cut.mp4")
    shutil.copyfile(video_dir / "h264_nob.mkv", tmp_path / "v" / "ok.mkv")
    (tmp_path / "train.txt").write_text("v/cut.mp4 0\nv/ok.mkv 1\n")
    proc = run_tool("validate", tmp_path / "train.txt", "--workers", 1)
    assert proc.returncode == 0, proc.stderr
    assert "1 of 2 videos readable" in proc.stdout
    assert (tmp_path / "train.clean.txt").read_text().splitlines() == ["v/ok.mkv 1"]
    report = (tmp_path / "train.unreadable.tsv").read_text().splitlines()
    assert report[1].startswith("v/cut.mp4\t") and "cut short" in report[1]


UNSAFE = "x.mp4 3\ninjected.mp4"  # a newline would add a line, with a label of its choosing


@pytest.mark.slow  # a subprocess run of the tool; test_validate_writes_clean_list_and_report is the fast one
def test_validate_refuses_unsafe_names(tmp_path, video_dir):
    root = tmp_path / "folders"
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True)
    shutil.copyfile(video_dir / "h264_nob.mkv", root / "a" / UNSAFE)
    shutil.copyfile(video_dir / "h264_nob.mkv", root / "a" / "tab\there.mkv")
    shutil.copyfile(video_dir / "h264_nob.mkv", root / "b" / "fine name é.mkv")
    proc = run_tool("validate", root, "--format", "folder", "--out", tmp_path / "out", "--workers", 1)
    assert proc.returncode == 0, proc.stderr
    assert "1 of 3 videos readable" in proc.stdout
    assert (tmp_path / "out.clean.txt").read_text(encoding="utf-8").splitlines() == ["b/fine name é.mkv 1"]
    report = (tmp_path / "out.unreadable.tsv").read_text().splitlines()
    assert len(report) == 3  # header + one line per refused file: nothing injected
    rows = dict(line.split("\t", 1) for line in report[1:])
    assert set(rows) == {"a/x.mp4 3\\ninjected.mp4", "a/tab\\there.mkv"}
    assert all("unusable file name" in e for e in rows.values())


@pytest.mark.slow  # a subprocess run of the tool; test_build_list_from_kinetics_and_moments is the fast one
def test_build_list_and_resize_refuse_unsafe_names(tmp_path, video_dir):
    m = tmp_path / "m"
    (m / "training" / "run").mkdir(parents=True)
    shutil.copyfile(video_dir / "h264_nob.mkv", m / "training" / "run" / "a.mp4")
    (m / "moments_categories.txt").write_text("run,0\nsit,1\n")
    (m / "trainingSet.csv").write_text(
        'run/a.mp4,run,3,0\n"run/b.mp4 1\nsit/evil.mp4",run,2,1\n"run/c\x1b.mp4",run,1,1\n'
    )
    proc = run_tool(
        "build-list",
        "moments",
        m / "trainingSet.csv",
        "--videos",
        m / "training",
        "--categories",
        m / "moments_categories.txt",
        "--out",
        m / "train.txt",
    )
    assert proc.returncode == 0, proc.stderr
    assert (m / "train.txt").read_text().splitlines() == ["run/a.mp4 0"]
    assert "2 with unusable names, left out" in proc.stdout
    assert "run/b.mp4 1\\nsit/evil.mp4" in proc.stderr and "run/c\\x1b.mp4" in proc.stderr

    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    shutil.copyfile(video_dir / "h264_nob.mkv", src / "ok.mkv")
    shutil.copyfile(video_dir / "h264_nob.mkv", src / UNSAFE)
    proc = run_tool("resize", src, dst, "--short-side", 32, "--workers", 1)
    assert proc.returncode == 1
    assert "resized 1, already there 0, failed 1" in proc.stdout and "unusable file name" in proc.stdout
    assert "\\ninjected.mp4" in proc.stdout
    assert sorted(p.name for p in dst.iterdir()) == ["ok.mp4"]


@pytest.mark.slow  # a subprocess run of the tool; test_resize_keeps_layout_and_resumes is the fast one
def test_resize_keyint_1_is_all_intra_and_read_one_frame_per_sampled_frame(tmp_path, video_dir, references):
    from cost.data import Video

    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    shutil.copyfile(video_dir / "h264_long_gop.mp4", src / "long.mp4")
    proc = run_tool("resize", src, dst, "--short-side", 48, "--keyint", 1, "--workers", 1)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    with av.open(str(dst / "long.mp4")) as c:
        keyframes = [p.is_keyframe for p in c.demux(video=0) if p.size]
    assert len(keyframes) == len(references["h264_long_gop.mp4"]) and all(keyframes)
    with Video(dst / "long.mp4", backend="pyav") as video:
        video.read([100, 3, 50, 140])
        assert video.frames_decoded == 4


# ---------------------------------------------------------------- untrusted inputs (issue 20)
@pytest.mark.slow  # a subprocess run of the tool; test_build_list_from_kinetics_and_moments is the fast one
def test_build_list_reads_a_csv_with_a_byte_order_mark(tmp_path, video_dir):
    vids = tmp_path / "train"
    vids.mkdir()
    shutil.copyfile(video_dir / "h264_nob.mkv", vids / "abc_000001_000011.mkv")
    rows = "label,youtube_id,time_start,time_end,split\nzumba,abc,1,11,train\nabseiling,xyz,0,10,train\n"
    (tmp_path / "train.csv").write_text("\ufeff" + rows, encoding="utf-8")  # as a spreadsheet exports it
    out = tmp_path / "lists" / "train.txt"
    proc = run_tool("build-list", "kinetics", tmp_path / "train.csv", "--videos", vids, "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert out.read_text().splitlines() == ["abc_000001_000011.mkv 1", "xyz_000000_000010.mp4 0"]
    assert (out.parent / "classes.txt").read_text().split() == ["abseiling", "zumba"]
    # An unlabelled CSV (Kinetics' test CSV) is refused; the classes.txt beside --out is kept.
    (tmp_path / "test.csv").write_text("youtube_id,time_start,time_end,split\nabc,1,11,test\n")
    proc = run_tool("build-list", "kinetics", tmp_path / "test.csv", "--videos", vids, "--out", out)
    assert proc.returncode != 0 and "has no 'label' column" in proc.stderr
    assert (out.parent / "classes.txt").read_text().split() == ["abseiling", "zumba"]
    (tmp_path / "short.csv").write_text(rows + "zumba,def\n")
    proc = run_tool("build-list", "kinetics", tmp_path / "short.csv", "--videos", vids, "--out", out)
    assert proc.returncode != 0 and f"{tmp_path / 'short.csv'}:4: the row has 2 of the 5 fields" in proc.stderr


@pytest.mark.slow  # a subprocess run of the tool; test_validate_writes_clean_list_and_report is the fast one
def test_validate_reports_giant_frames_and_rotated_videos(tmp_path, video_dir):
    from tests.helpers.data import encode_grey, encode_turned, pattern_frames

    (tmp_path / "v").mkdir()
    shutil.copyfile(video_dir / "h264_nob.mkv", tmp_path / "v" / "ok.mkv")
    encode_grey(tmp_path / "v" / "big.mp4", 96, 96, n=2)
    encode_turned(tmp_path / "v" / "phone.mp4", pattern_frames(6), degrees=-90)
    (tmp_path / "train.txt").write_text("v/ok.mkv 0\nv/big.mp4 1\nv/phone.mp4 1\n")
    proc = run_tool("validate", tmp_path / "train.txt", "--workers", 1, "--max-frame-pixels", 64 * 64)
    assert proc.returncode == 0, proc.stderr
    assert "2 of 3 videos readable" in proc.stdout and "read upright (1)" in proc.stdout
    assert (tmp_path / "train.clean.txt").read_text().splitlines() == ["v/ok.mkv 0", "v/phone.mp4 1"]
    report = (tmp_path / "train.unreadable.tsv").read_text().splitlines()
    assert report[1].startswith("v/big.mp4\t") and "96x96 = 9216 pixels, more than --max-frame-pixels=4096" in report[1]
    assert (tmp_path / "train.rotated.tsv").read_text().splitlines() == ["path\tclockwise_degrees", "v/phone.mp4\t90"]
    proc = run_tool("validate", tmp_path / "train.txt", "--workers", 1)  # the default admits 96x96
    assert "3 of 3 videos readable" in proc.stdout


@pytest.mark.slow  # a subprocess run of the tool; test_validate_writes_clean_list_and_report is the fast one
def test_validate_never_crashes_on_a_name(tmp_path, video_dir):
    root = tmp_path / "folders"
    (root / "a").mkdir(parents=True)
    shutil.copyfile(video_dir / "h264_nob.mkv", root / "a" / "ok.mkv")
    with open(os.path.join(os.fsencode(root / "a"), b"caf\xe9.mkv"), "wb") as f:  # Latin-1, not UTF-8
        f.write((video_dir / "h264_nob.mkv").read_bytes())
    proc = run_tool("validate", root, "--format", "folder", "--out", tmp_path / "out", "--workers", 1)
    assert proc.returncode == 0, proc.stderr
    assert "1 of 2 videos readable" in proc.stdout
    assert (tmp_path / "out.clean.txt").read_text().splitlines() == ["a/ok.mkv 0"]
    rows = dict(line.split("\t", 1) for line in (tmp_path / "out.unreadable.tsv").read_text().splitlines()[1:])
    assert rows == {"a/caf\\xe9.mkv": "unusable file name (bytes 0xe9 are not UTF-8); rename the file"}

    (tmp_path / "d" / "x.mp4").mkdir(parents=True)  # a directory with a video's name
    (tmp_path / "list.txt").write_text("d/x.mp4 0\nd/none.mp4 0\n")
    proc = run_tool("validate", tmp_path / "list.txt", "--workers", 1)
    assert proc.returncode == 0, proc.stderr
    errors = dict(line.split("\t", 1) for line in (tmp_path / "list.unreadable.tsv").read_text().splitlines()[1:])
    assert "it is a directory, not a video file" in errors["d/x.mp4"] and "file not found" in errors["d/none.mp4"]


@pytest.mark.slow  # a subprocess run of the tool; test_resize_keeps_layout_and_resumes is the fast one
def test_resize_keeps_a_phone_video_upright(tmp_path):
    from cost.data import read_frames
    from tests.helpers.data import encode_turned, pattern_frames

    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    encode_turned(src / "phone.mp4", pattern_frames(6, width=64, height=48), degrees=-90)
    proc = run_tool("resize", src, dst, "--short-side", 32, "--workers", 1)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert read_frames(src / "phone.mp4", [0]).shape == (1, 64, 48, 3)  # portrait, as the phone shows it
    assert read_frames(dst / "phone.mp4", [0]).shape == (1, 42, 32, 3)  # still portrait, short side 32
