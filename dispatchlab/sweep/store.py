"""Where a sweep's results live: Parquet partitions written as tasks finish, and a manifest.

Layout of an output directory::

    manifest.json                     config, package version, git revision, case hashes, seeds
    part-000000-<run>.parquet         one partition per chunk of finished tasks
    part-000001-<run>.parquet         …

A partition is written to a temporary name and renamed, so it is either whole or absent: a
sweep killed at any moment loses at most the rows not yet flushed, and never leaves half a
partition. The finished task ids are whatever the partitions hold.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

MANIFEST = "manifest.json"
PATTERN = "part-*.parquet"


def git_revision(path: Path | None = None) -> str | None:
    """The git commit of the dispatchlab checkout (``+dirty`` if it has changes), or None."""
    where = path or Path(__file__).resolve().parents[2]
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=5
        )
        if rev.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=where, capture_output=True, text=True, timeout=5,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return rev.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


class ResultStore:
    """The partitions and manifest of one output directory."""

    def __init__(self, out_dir: str | os.PathLike):
        self.path = Path(out_dir)
        self.path.mkdir(parents=True, exist_ok=True)
        self.run_id = uuid.uuid4().hex[:8]
        self._seq = len(self.partitions())

    def partitions(self) -> list[Path]:
        """The complete partitions, oldest first."""
        return sorted(self.path.glob(PATTERN))

    def finished_ids(self, *, only_ok: bool = False) -> set[str]:
        """The ids of every task with a row in a partition (``only_ok``: whose latest row has
        ``task_status == "ok"``, so that failed tasks run again)."""
        latest: dict[str, str] = {}
        for part in self.partitions():
            table = pq.read_table(part, columns=["task_id", "task_status"])
            ids, statuses = (table.column(i).to_pylist() for i in range(2))
            latest.update(zip(ids, statuses, strict=True))
        return {k for k, v in latest.items() if v == "ok" or not only_ok}

    def write(self, rows: list[dict]) -> Path | None:
        """Write ``rows`` as one new partition (atomically); returns its path."""
        if not rows:
            return None
        columns = list(dict.fromkeys(key for row in rows for key in row))  # first-seen order
        table = pa.Table.from_pylist([{c: row.get(c) for c in columns} for row in rows])
        name = f"part-{self._seq:06d}-{self.run_id}.parquet"
        tmp = self.path / f".{name}.tmp"
        pq.write_table(table, tmp)
        os.replace(tmp, self.path / name)
        self._seq += 1
        return self.path / name

    # ----------------------------------------------------------------------------- manifest
    def read_manifest(self) -> dict[str, Any] | None:
        """The manifest, or None before the first run."""
        file = self.path / MANIFEST
        return json.loads(file.read_text()) if file.exists() else None

    def start_run(self, config: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
        """Create the manifest, or add this run to it (the config must match the first one's
        task function: one directory holds one kind of result)."""
        manifest = self.read_manifest()
        run = {"run_id": self.run_id, "started": _now(), **extra, "config": dict(config)}
        if manifest is None:
            manifest = {"format": 1, "created": _now(), "config": dict(config), "runs": []}
        elif manifest["config"].get("function") != config.get("function"):
            raise ValueError(
                f"{self.path} holds results of {manifest['config'].get('function')!r}, "
                f"not {config.get('function')!r}: use another output directory"
            )
        manifest["runs"].append(run)
        manifest.update({k: v for k, v in extra.items() if k != "config"})
        self._write_manifest(manifest)
        return manifest

    def finish_run(self, summary: Mapping[str, Any]) -> None:
        """Record this run's summary (counts, wall time) in the manifest."""
        manifest = self.read_manifest() or {"runs": []}
        for run in manifest["runs"]:
            if run.get("run_id") == self.run_id:
                run.update(finished=_now(), summary=dict(summary))
        self._write_manifest(manifest)

    def _write_manifest(self, manifest: Mapping[str, Any]) -> None:
        tmp = self.path / f".{MANIFEST}.tmp"
        tmp.write_text(json.dumps(manifest, indent=2, default=str))
        os.replace(tmp, self.path / MANIFEST)


def read_results(
    out_dir: str | os.PathLike, *, statuses: Iterable[str] | None = None
) -> pd.DataFrame:
    """All rows of a sweep as one DataFrame sorted by ``task_id`` (one row per task: the latest
    partition wins if a task was re-run), optionally only some ``task_status`` values."""
    parts = sorted(Path(out_dir).glob(PATTERN))
    if not parts:
        return pd.DataFrame(columns=["task_id", "task_status"])
    frames = [pq.read_table(p).to_pandas() for p in parts]
    frames = [f for f in frames if len(f)]
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    df = df.drop_duplicates("task_id", keep="last")
    if statuses is not None:
        df = df[df["task_status"].isin(list(statuses))]
    return df.sort_values("task_id", kind="stable").reset_index(drop=True)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
