"""The MATPOWER ``.m`` file parser (no MATLAB or Octave): the data of a case or change table.

Only data are read: ``mpc.X = [...]`` matrices (any number of columns; also plain
``chgtab = [...]``), ``mpc.X = {...}`` cell arrays and scalar assignments (``baseMVA``,
``version``). Comments (``%``), ``;`` or newline row ends, ``...`` continuations, ``Inf``/``NaN``
are understood. Other MATLAB statements are skipped; those that *modify* a field after its
assignment (``mpc.branch(:, 3) = ...``, as in ``case33bw.m``) are listed in ``raw["ignored"]``,
because the numbers read are then not those MATLAB would see. Errors name file, line and field.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

_MIN_COLS = {"bus": 13, "gen": 10, "branch": 11, "gencost": 4}
_ASSIGN = re.compile(r"^\s*((?:mpc\.)?([A-Za-z]\w*))\s*=\s*(.*?)\s*$")
_MODIFY = re.compile(r"^\s*mpc\.(\w+)\s*\(")
_QUOTED_OR_COMMENT = re.compile(r"('(?:[^']|'')*')|%.*")
_CELL_TOKEN = re.compile(r"'((?:[^']|'')*)'|(;)|([^\s,;]+)")


class MatpowerParseError(ValueError):
    """A MATPOWER file could not be read; the message names the file, line and field."""


def _fail(fname: str, line: int | None, field: str, msg: str) -> MatpowerParseError:
    where = f"{fname} line {line}" if line is not None else fname
    return MatpowerParseError(f"{where}, {field}: {msg}" if field else f"{where}: {msg}")


CASE_FIELDS = ("baseMVA", "bus", "gen", "branch")


def parse_matpower(
    path: str | Path,
    *,
    constants: dict[str, str] | None = None,
    required: tuple[str, ...] = CASE_FIELDS,
) -> dict:
    """Parse a ``.m`` (or gzipped ``.m.gz``) case file into raw data (matrices as 2-D float
    arrays, cells as lists).

    Returns a dict with ``baseMVA`` (float), ``version`` and one entry per matrix or cell array
    (``bus``, ``gen``, ``branch``, ``gencost``, ``bus_name`` …; a plain ``chgtab = [...]`` is
    ``chgtab``), plus ``file`` (the file name), ``lines`` (per matrix: the 1-based line number
    of each row, for error messages) and ``ignored`` (field-modifying statements not executed).
    ``constants`` maps symbolic names (``CT_TBRCH`` …) to numbers (as strings), for MATPOWER
    change tables; ``required`` lists the fields whose absence is an error.
    """
    path = Path(path)
    if path.suffix == ".gz":  # large cases ship gzipped (case10000_goc: 0.5 MB instead of 2.4)
        import gzip

        with gzip.open(path, "rt") as fh:
            return _parse_text(fh.read(), path.name, constants, required)
    return _parse_text(path.read_text(), path.name, constants, required)


def _strip_comment(line: str) -> str:
    if "%" not in line:
        return line
    if "'" not in line:
        return line.split("%", 1)[0]
    return _QUOTED_OR_COMMENT.sub(lambda m: m.group(1) or "", line)


def _parse_text(text: str, fname: str, constants, required=CASE_FIELDS) -> dict:
    lines = text.splitlines()
    raw: dict[str, Any] = {"file": fname, "lines": {}, "ignored": []}
    i = 0
    while i < len(lines):
        code = _strip_comment(lines[i])
        m = _ASSIGN.match(code)
        if m is None:
            if _MODIFY.match(code):
                raw["ignored"].append(f"line {i + 1}: {code.strip()}")
            i += 1
            continue
        lhs, field, value = m.groups()
        if value[:1] in ("[", "{"):
            close = "]" if value[0] == "[" else "}"
            pieces, i = _collect(lines, i, value[1:], close, fname, lhs)
            if close == "]":
                raw[field], raw["lines"][field] = _matrix(pieces, fname, lhs, constants)
            else:
                raw[field] = _cell(pieces, fname, lhs)
        elif lhs.startswith("mpc."):
            raw[field] = _scalar(value.rstrip(";").strip(), fname, i + 1, lhs)
        i += 1
    _check_required(raw, fname, required)
    return raw


def _collect(lines: list[str], i: int, first: str, close: str, fname: str, lhs: str):
    """The code lines of a ``[...]`` or ``{...}`` block opened on line ``i``, comments removed."""
    pieces, start, code = [], i, first
    while True:
        if close in code:
            pieces.append((i + 1, code.split(close, 1)[0]))
            return pieces, i
        pieces.append((i + 1, code))
        i += 1
        if i == len(lines):
            raise _fail(fname, start + 1, lhs, f"'{'[' if close == ']' else '{'}' never closed")
        code = _strip_comment(lines[i])


def _rows(pieces: list[tuple[int, str]]) -> tuple[list[list[str]], list[int]]:
    """Split a matrix body into rows of tokens: ``;`` ends a row, ``...`` continues a line.

    When the block uses ``;`` at all, a newline does not end a row (so a row may be split over
    lines); in a block without any ``;``, each line is a row (MATLAB's rule).
    """
    semicolons = any(";" in code for _, code in pieces)
    rows: list[list[str]] = []
    row_lines: list[int] = []
    cur: list[str] = []
    for lineno, code in pieces:
        cont = "..." in code
        if cont:
            code = code.split("...", 1)[0]
        segments = code.replace(",", " ").split(";")
        for k, segment in enumerate(segments):
            tokens = segment.split()
            if tokens:
                if not cur:
                    row_lines.append(lineno)
                cur.extend(tokens)
            if cur and (k < len(segments) - 1 or not (semicolons or cont)):
                rows.append(cur)
                cur = []
    if cur:
        rows.append(cur)
    return rows, row_lines


def _matrix(pieces, fname: str, lhs: str, constants) -> tuple[np.ndarray, np.ndarray]:
    rows, row_lines = _rows(pieces)
    if not rows:
        return np.zeros((0, 0)), np.zeros(0, dtype=int)
    lengths = np.fromiter((len(r) for r in rows), dtype=int, count=len(rows))
    values, counts = np.unique(lengths, return_counts=True)
    expected = int(values[counts == counts.max()].max())  # ties: a row lost values
    bad = np.flatnonzero(lengths != expected)
    if len(bad):
        k = int(bad[0])
        raise _fail(
            fname, row_lines[k], lhs, f"row {k + 1} has {lengths[k]} values, expected {expected}"
        )
    flat = [t for r in rows for t in r]
    if constants:
        flat = [constants.get(t, t) for t in flat]
    try:
        data = np.array(flat, dtype=np.float64)
    except ValueError:
        k = next(j for j, t in enumerate(flat) if not _is_number(t))
        raise _fail(
            fname,
            row_lines[k // expected],
            lhs,
            f"row {k // expected + 1}: {flat[k]!r} is not a number",
        ) from None
    return data.reshape(len(rows), expected), np.asarray(row_lines)


def _is_number(token: Any) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _cell(pieces, fname: str, lhs: str) -> list:
    """A cell array: a flat list when it has one column (the usual case), else rows of lists."""
    rows: list[list] = []
    for lineno, code in pieces:
        cur: list = []
        for m in _CELL_TOKEN.finditer(code.split("...", 1)[0]):
            quoted, semi, other = m.groups()
            if semi:
                rows.append(cur) if cur else None
                cur = []
            elif quoted is not None:
                cur.append(quoted.replace("''", "'"))
            elif _is_number(other):
                cur.append(float(other))
            else:
                raise _fail(fname, lineno, lhs, f"{other!r} is neither a string nor a number")
        if cur:
            rows.append(cur)
    return [r[0] for r in rows] if all(len(r) == 1 for r in rows) else rows


def _scalar(value: str, fname: str, line: int, lhs: str) -> Any:
    if value[:1] == "'" and value[-1:] == "'":
        return value[1:-1]
    if not _is_number(value):
        raise _fail(fname, line, lhs, f"{value!r} is not a number")
    return float(value)


def _check_required(raw: dict, fname: str, required: tuple[str, ...]) -> None:
    missing = [f"mpc.{k}" if k in CASE_FIELDS else k for k in required if k not in raw]
    if missing:
        raise _fail(fname, None, "", f"missing required field(s) {', '.join(missing)}")
    for field, ncol in _MIN_COLS.items():
        mat = raw.get(field)
        if mat is not None and mat.size == 0:
            raw[field] = np.zeros((0, ncol))  # an empty table still has its columns
        elif mat is not None and mat.shape[1] < ncol:
            raise _fail(
                fname,
                int(raw["lines"][field][0]),
                f"mpc.{field}",
                f"row 1 has {mat.shape[1]} values, expected at least {ncol}",
            )
