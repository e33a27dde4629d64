"""A small reader for the subset of the OpenDSS language used by the IEEE test-feeder files.

It reads only what ``IEEE123Master.dss`` and the files it redirects to use (OpenDSS manual,
"OpenDSS Commands" and "Circuit element properties"):

* commands ``New``, ``Edit``, ``Redirect``/``Compile``, ``Open``/``Close`` (a line terminal),
  ``Set`` (``DefaultBaseFrequency``, ``VoltageBases``), and the harmless ``Clear``,
  ``CalcVoltageBases``, ``Solve``, ``Show``, ``Export``, ``Plot``;
* object classes ``circuit`` (its Vsource), ``vsource``, ``line``, ``linecode``, ``load``,
  ``transformer``, ``regcontrol`` and ``capacitor``, with ``like=`` copying;
* ``~`` / ``More`` continuation lines, ``!`` and ``//`` comments, array values in ``[]``,
  ``()``, ``{}`` or quotes, matrices with ``|`` row separators (lower-triangular or full).

Keys and bus names are case-insensitive (lower-cased here, as OpenDSS does). Anything else
raises :class:`ValueError` naming the file and line number, never silently skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

CLASSES = ("vsource", "line", "linecode", "load", "transformer", "regcontrol", "capacitor")
IGNORED_COMMANDS = ("clear", "calcvoltagebases", "solve", "show", "export", "plot")
#: metres per OpenDSS length unit (OpenDSS manual, ``units=`` of Line and LineCode)
LENGTH_M = {
    "mi": 1609.344,
    "kft": 304.8,
    "km": 1000.0,
    "m": 1.0,
    "ft": 0.3048,
    "in": 0.0254,
    "cm": 0.01,
    "mm": 0.001,
}
_TOKEN = re.compile(
    r"""\s*(?:([^\s=]+)\s*=\s*)?(\[[^\]]*\]|\([^)]*\)|\{[^}]*\}|"[^"]*"|'[^']*'|[^\s]+)"""
)


@dataclass
class DssObject:
    """One circuit element: its ordered ``(key, value)`` properties and where it was defined."""

    cls: str
    name: str
    where: str
    items: list[tuple[str, str, str]] = field(default_factory=list)  # (key, value, where)
    open_terminals: set[int] = field(default_factory=set)

    @property
    def props(self) -> dict[str, str]:
        """The properties as a dict; a later assignment overrides an earlier one."""
        return {k: v for k, v, _ in self.items}

    def where_of(self, key: str) -> str:
        """``file:line`` of the last assignment of ``key`` (the object's own place if none)."""
        hits = [w for k, _, w in self.items if k == key]
        return hits[-1] if hits else self.where


@dataclass
class DssModel:
    """What a DSS script defines: objects by class and name, plus the ``Set`` options."""

    objects: dict[str, dict[str, DssObject]] = field(
        default_factory=lambda: {c: {} for c in CLASSES}
    )
    base_frequency: float = 60.0
    voltage_bases: list[float] = field(default_factory=list)
    files: list[str] = field(default_factory=list)


def dss_error(where: str, message: str) -> ValueError:
    return ValueError(f"{where}: {message}")


def parse_dss(path: Path | str) -> DssModel:
    """Read the DSS script ``path`` and every file it redirects to."""
    model = DssModel()
    _run_file(Path(path), model)
    return model


def _resolve(folder: Path, name: str, where: str) -> Path:
    """The file ``name`` in ``folder``, matched case-insensitively like on Windows."""
    target = folder / name
    if target.exists():
        return target
    for candidate in folder.iterdir():
        if candidate.name.lower() == name.lower():
            return candidate
    raise dss_error(where, f"redirected file '{name}' not found in {folder}")


def _logical_lines(path: Path) -> list[list[tuple[str, str]]]:
    """Statements of ``path`` as lists of ``(token, 'file:line')``, continuations joined."""
    statements: list[list[tuple[str, str]]] = []
    text = path.read_text(encoding="utf-8", errors="replace")
    for number, raw in enumerate(text.splitlines(), start=1):
        where = f"{path.name}:{number}"
        line = re.split(r"!|//", raw, maxsplit=1)[0].strip()
        if not line:
            continue
        cont = re.match(r"(~|more\b)\s*", line, flags=re.IGNORECASE)
        tokens = _tokens(line[cont.end() :] if cont else line, where)
        if cont:
            if not statements:
                raise dss_error(where, "continuation line with nothing to continue")
            statements[-1].extend(tokens)
        else:
            statements.append(tokens)
    return statements


def _tokens(text: str, where: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            if text[pos:].strip():
                raise dss_error(where, f"cannot read '{text[pos:].strip()}'")
            break
        key, value = m.group(1), m.group(2)
        out.append((f"{key.lower()}={value}" if key else value, where))
        pos = m.end()
    return out


def _run_file(path: Path, model: DssModel) -> None:
    model.files.append(path.name)
    for statement in _logical_lines(path):
        (command, where), args = statement[0], statement[1:]
        if "=" in command:
            raise dss_error(where, f"expected a command, got '{command}'")
        _run_command(command.lower(), args, where, path.parent, model)


def _run_command(command: str, args, where: str, folder: Path, model: DssModel) -> None:
    if command in ("redirect", "compile"):
        if not args:
            raise dss_error(where, f"{command} needs a file name")
        _run_file(_resolve(folder, args[0][0].strip("\"'"), where), model)
    elif command == "new":
        _new(args, where, model)
    elif command == "edit":
        _edit(args, where, model)
    elif command in ("open", "close"):
        _open_close(command, args, where, model)
    elif command == "set":
        _set(args, model)
    elif command not in IGNORED_COMMANDS:
        raise dss_error(where, f"unsupported command '{command}'")


def _split_kv(token: str) -> tuple[str | None, str]:
    if "=" in token and not token.startswith(("[", "(", "{", '"', "'")):
        key, value = token.split("=", 1)
        return key, value
    return None, token


def _object_name(args, where: str) -> tuple[str, str, list]:
    """The ``Class.name`` of a New/Edit statement (``object=`` or positional) and the rest."""
    if not args:
        raise dss_error(where, "missing object name")
    key, value = _split_kv(args[0][0])
    if key not in (None, "object"):
        raise dss_error(where, f"expected Class.name, got '{args[0][0]}'")
    if "." not in value:
        raise dss_error(args[0][1], f"expected Class.name, got '{value}'")
    cls, name = value.split(".", 1)
    return cls.lower(), name.lower(), args[1:]


def _new(args, where: str, model: DssModel) -> None:
    cls, name, rest = _object_name(args, where)
    if cls == "circuit":
        cls, name = "vsource", "source"
    if cls not in CLASSES:
        raise dss_error(where, f"unsupported object class '{cls}' (supported: {CLASSES})")
    obj = DssObject(cls, name, where)
    model.objects[cls][name] = obj
    _apply(obj, rest, model)


def _edit(args, where: str, model: DssModel) -> None:
    cls, name, rest = _object_name(args, where)
    obj = model.objects.get(cls, {}).get(name)
    if obj is None:
        raise dss_error(where, f"Edit of undefined object '{cls}.{name}'")
    _apply(obj, rest, model)


def _apply(obj: DssObject, args, model: DssModel) -> None:
    for token, where in args:
        key, value = _split_kv(token)
        if key is None:
            raise dss_error(where, f"positional property '{token}' is not supported; use key=value")
        if key == "like":
            base = model.objects[obj.cls].get(value.lower())
            if base is None:
                raise dss_error(where, f"like={value}: no {obj.cls} of that name defined before")
            obj.items.extend(base.items)
        else:
            obj.items.append((key, value, where))


def _open_close(command: str, args, where: str, model: DssModel) -> None:
    cls, name, rest = _object_name(args, where)
    obj = model.objects.get(cls, {}).get(name)
    if obj is None:
        raise dss_error(where, f"{command} of undefined object '{cls}.{name}'")
    props = dict(_split_kv(t) for t, _ in rest)
    terminal = int(as_float(props.get("terminal", "1"), where))
    if command == "open":
        obj.open_terminals.add(terminal)
    else:
        obj.open_terminals.discard(terminal)


def _set(args, model: DssModel) -> None:
    for token, where in args:
        key, value = _split_kv(token)
        if key == "defaultbasefrequency":
            model.base_frequency = as_float(value, where)
        elif key == "voltagebases":
            model.voltage_bases = [as_float(v, where) for v in as_list(value)]


# ------------------------------------------------------------------------------ values
def as_float(value: str, where: str) -> float:
    try:
        return float(value.strip("\"'"))
    except ValueError:
        raise dss_error(where, f"expected a number, got '{value}'") from None


def as_list(value: str) -> list[str]:
    """``[a b c]``, ``(a, b)``, ``"a b"`` → ``['a', 'b', 'c']``."""
    inner = value.strip()
    if inner[:1] in "[({\"'":
        inner = inner[1:-1]
    return [v for v in re.split(r"[\s,]+", inner) if v]


def as_matrix(value: str, where: str) -> np.ndarray:
    """A symmetric matrix from OpenDSS text: rows split by ``|``, lower-triangular or full."""
    inner = value.strip()[1:-1] if value.strip()[:1] in "[({\"'" else value
    rows = [
        [as_float(v, where) for v in re.split(r"[\s,]+", r.strip()) if v] for r in inner.split("|")
    ]
    n = len(rows)
    m = np.zeros((n, n))
    for i, row in enumerate(rows):
        if len(row) == i + 1:  # lower triangle
            m[i, : i + 1] = row
            m[: i + 1, i] = row
        elif len(row) == n:
            m[i, :] = row
        else:
            raise dss_error(
                where,
                f"matrix row {i + 1} has {len(row)} value(s); expected "
                f"{i + 1} (lower-triangular) or {n}",
            )
    return m


def bus_name(value: str) -> str:
    """The bus of a terminal spec: ``'7.1.2'`` → ``'7'`` (lower case)."""
    return value.strip("\"'").split(".")[0].lower()


def truthy(value: str) -> bool:
    return value.strip("\"'").lower() in ("y", "yes", "t", "true", "1")
