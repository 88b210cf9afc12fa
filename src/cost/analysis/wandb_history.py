"""A W&B run's logged history as plain dict rows, without pandas.

``history(source)``: ``source`` is either a W&B run path ``entity/project/run_id`` (read with
the public API's ``scan_history``, which pages through every row) or a local offline run
directory ``<run dir>/wandb/offline-run-*`` (read from its ``run-*.wandb`` file, the
record log that ``wandb sync`` would upload). Both give the same rows: the keys logged at one
step, with ``_step`` and, for Lightning runs, ``trainer/global_step``.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from pathlib import Path

# The .wandb file: a 7-byte header (":W&B", magic 0xBEE1, version 0), then LevelDB-log-style
# 32 KiB blocks of chunks: crc32 (4 bytes), length (2), type (1: full, 2: first, 3: middle,
# 4: last). A complete chunk sequence is one serialized wandb_internal_pb2.Record.
_HEADER = 7
_BLOCK = 32768
_CHUNK = 7
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4


def _records(path: Path) -> Iterator[bytes]:
    data = path.read_bytes()
    if data[:4] != b":W&B":
        raise ValueError(f"{path} is not a W&B run file (no :W&B header)")
    pos, parts = _HEADER, []
    while pos + _CHUNK <= len(data):
        room = _BLOCK - pos % _BLOCK
        if room < _CHUNK:  # the rest of a block too small for a chunk header is padding
            pos += room
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + _CHUNK])
        pos += _CHUNK
        if length == 0 and kind == 0:  # zero padding at the end of a block
            pos += room - _CHUNK
            continue
        parts.append(data[pos : pos + length])
        pos += length
        if kind in (_FULL, _LAST):
            yield b"".join(parts)
            parts = []


def offline_records(run_dir: str | Path) -> Iterator:
    """Every record (``wandb_internal_pb2.Record``: run, history, artifact, ...) of an
    offline run directory (the one holding ``run-<id>.wandb``)."""
    from wandb.proto import wandb_internal_pb2 as pb

    run_dir = Path(run_dir)
    files = sorted(run_dir.glob("run-*.wandb"))
    if not files:
        raise FileNotFoundError(f"no run-*.wandb file in {run_dir}: give an offline-run-* directory")
    for blob in _records(files[0]):
        record = pb.Record()
        record.ParseFromString(blob)
        yield record


def offline_history(run_dir: str | Path) -> list[dict]:
    """History rows of an offline run directory."""
    rows = []
    for record in offline_records(run_dir):
        if record.WhichOneof("record_type") != "history":
            continue
        row = {}
        for item in record.history.item:
            key = item.key or "/".join(item.nested_key)
            row[key] = json.loads(item.value_json)
        rows.append(row)
    return rows


def history(source: str | Path, prefix: str = "") -> list[dict]:
    """Rows of an online run (``entity/project/run_id``) or an offline run directory, each
    cut to the keys starting with ``prefix`` plus the step keys; rows without such a key drop."""
    path = Path(str(source))
    if path.is_dir():
        rows = offline_history(path)
    else:
        import wandb

        rows = list(wandb.Api().run(str(source)).scan_history())
    steps = ("_step", "trainer/global_step")
    out = []
    for row in rows:
        kept = {k: v for k, v in row.items() if k.startswith(prefix) and k not in steps}
        if kept:
            out.append({**{k: row[k] for k in steps if k in row}, **kept})
    return out
