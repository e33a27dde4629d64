"""Where a sweep's results live: Parquet partitions written as tasks finish, and a manifest.

Layout of an output directory::

    _manifest.json                    config, package version, git revision, case hashes, seeds
    part-000000-<run>.parquet         one partition per chunk of finished tasks
    part-000001-<run>.parquet         …

The manifest's leading ``_`` (like the ``.`` of temporary files) makes Parquet readers skip
it, so ``pd.read_parquet(out_dir)`` reads the partitions as one dataset (``read_results`` also
keeps only each task's latest row). A directory written before the rename has
``manifest.json``: it is read, and renamed on the next run.

A partition is written to a temporary name and renamed, so it is either whole or absent: a
sweep killed at any moment loses at most the rows not yet flushed, and never leaves half a
partition. The finished task ids are whatever the partitions hold.
"""

from __future__ import annotations

import errno
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

MANIFEST = "_manifest.json"
_OLD_MANIFEST = "manifest.json"  # before 0.1.1: made pd.read_parquet(out_dir) fail
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
        if not os.access(self.path, os.W_OK | os.X_OK):
            raise PermissionError(errno.EACCES, "permission denied", str(self.path))
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
        table = _conform(table, pa.schema([f for f in RUNNER_SCHEMA if f.name in columns]))
        table = self._unify(table)
        name = f"part-{self._seq:06d}-{self.run_id}.parquet"
        _write_atomic(table, self.path / name)
        self._seq += 1
        return self.path / name

    def _unify(self, table: pa.Table) -> pa.Table:
        """``table`` with every column any partition has, and the partitions with its columns.

        A Parquet reader of the whole directory (``pd.read_parquet(out_dir)``) takes the schema
        of one partition, so each must hold every column with one type: a column first seen
        now (a task's outputs after a partition of only failed tasks) is added, as nulls, to
        the partitions written before. Types that cannot be unified (a task returning a
        number here and a string there) are left as they are: ``read_results`` still reads
        them, partition by partition.
        """
        parts = self.partitions()
        if not parts:
            return table
        before = pq.read_schema(parts[-1]).remove_metadata()
        try:
            schema = pa.unify_schemas([before, table.schema], promote_options="permissive")
            table = _conform(table, schema)
        except (pa.ArrowTypeError, pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return table
        if not schema.equals(before):
            for part in parts:
                _write_atomic(_conform(pq.read_table(part), schema), part)
        return table

    # ----------------------------------------------------------------------------- manifest
    def read_manifest(self) -> dict[str, Any] | None:
        """The manifest, or None before the first run."""
        for name in (MANIFEST, _OLD_MANIFEST):
            file = self.path / name
            if file.exists():
                return json.loads(file.read_text())
        return None

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
        (self.path / _OLD_MANIFEST).unlink(missing_ok=True)


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


#: the runner's columns, typed (a partition where every task succeeded has only nulls in
#: ``error``: without a type there, a reader of the directory refused the next partition)
RUNNER_SCHEMA = pa.schema(
    [("task_id", pa.string()), ("case", pa.string()), ("scenario", pa.string()),
     ("method", pa.string()), ("seed", pa.int64()), ("params", pa.string()),
     ("task_status", pa.string()), ("error", pa.string()), ("traceback", pa.string()),
     ("elapsed_s", pa.float64()), ("attempts", pa.int64())]
)  # fmt: skip


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with the fields of ``schema`` (cast; absent ones as nulls) first, then the
    columns ``schema`` does not name."""
    names = set(schema.names)
    columns = [
        table.column(f.name).cast(f.type) if f.name in table.column_names
        else pa.nulls(len(table), f.type)
        for f in schema
    ]  # fmt: skip
    extra = [f for f in table.schema if f.name not in names]
    return pa.Table.from_arrays(
        columns + [table.column(f.name) for f in extra], schema=pa.schema([*schema, *extra])
    )


def _write_atomic(table: pa.Table, path: Path) -> None:
    """Write to a hidden temporary name, then rename: a partition is whole or absent."""
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
