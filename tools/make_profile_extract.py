"""Regenerate ``dispatchlab/cases/data/profiles/simbench_profiles_2016.npz`` from SimBench.

Needs the full SimBench package (``pip install "dispatchlab[simbench]"``, about 380 MB). Reads
the profile tables of SimBench's complete data set (scenario 0, "today"), keeps a handful of
profiles, normalises them and stores them as uint16 codes in a compressed ``.npz`` (about
0.6 MB). See ``dispatchlab/cases/data/profiles/README.md`` for what is kept and the licence.

Usage::

    .venv/bin/python tools/make_profile_extract.py            # (re)write the extract
    .venv/bin/python tools/make_profile_extract.py --check    # compare with the shipped one
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

OUT = (
    Path(__file__).resolve().parents[1]
    / "dispatchlab/cases/data/profiles/simbench_profiles_2016.npz"
)
SCENARIO = 0

#: dispatchlab name -> (SimBench table, SimBench column, kind, description)
SELECTION: dict[str, tuple[str, str, str, str]] = {
    "residential": ("load", "H0-A_pload", "load_p", "household (BDEW H0 type), P"),
    "residential_q": ("load", "H0-A_qload", "load_q", "household (BDEW H0 type), Q"),
    "commercial": ("load", "G0-A_pload", "load_p", "commercial, general (BDEW G0 type), P"),
    "commercial_q": ("load", "G0-A_qload", "load_q", "commercial, general (BDEW G0 type), Q"),
    "industrial": ("load", "G3-A_pload", "load_p", "commercial, continuous (BDEW G3), P"),
    "industrial_q": ("load", "G3-A_qload", "load_q", "commercial, continuous (BDEW G3), Q"),
    "agricultural": ("load", "L0-A_pload", "load_p", "agricultural (BDEW L0 type), P"),
    "agricultural_q": ("load", "L0-A_qload", "load_q", "agricultural (BDEW L0 type), Q"),
    "pv_1": ("renewables", "PV3", "pv", "PV, p.u. of installed power"),
    "pv_2": ("renewables", "PV7", "pv", "PV, p.u. of installed power"),
    "wind_1": ("renewables", "WP4", "wind", "wind, p.u. of installed power"),
    "wind_2": ("renewables", "WP2", "wind", "wind (high-yield site), p.u. of installed power"),
}


TABLE_FILES = {"load": "LoadProfile.csv", "renewables": "RESProfile.csv"}


def read_simbench() -> tuple[dict[str, pd.DataFrame], str]:
    """The selected columns of SimBench's profile tables (as ``simbench.read_csv_data`` and
    ``get_all_simbench_profiles`` read them, but only the columns needed) and its version."""
    import simbench as sb

    folder = Path(sb.complete_data_path(SCENARIO))
    tables = {}
    for table, file in TABLE_FILES.items():
        cols = ["time", *(c for t, c, _, _ in SELECTION.values() if t == table)]
        tables[table] = pd.read_csv(folder / file, sep=";", usecols=cols)
    return tables, sb.__version__


def cet_times(column: pd.Series) -> pd.DatetimeIndex:
    """SimBench's time labels ('01.01.2016 00:00') are Europe/Berlin wall-clock time with DST
    (27 Mar skips 02:00-02:45, 30 Oct repeats it) over an evenly spaced sequence. Returns the
    same instants as naive CET (UTC+01:00) labels, checked to be evenly spaced."""
    local = pd.DatetimeIndex(pd.to_datetime(column, format="%d.%m.%Y %H:%M"))
    utc = local.tz_localize("Europe/Berlin", ambiguous="infer").tz_convert("UTC")
    cet = (utc + pd.Timedelta(hours=1)).tz_localize(None)
    step = cet[1] - cet[0]
    if not (np.diff(cet.asi8) == step.value).all():
        raise RuntimeError("SimBench time column is not evenly spaced")
    return cet


def normalise(values: np.ndarray, kind: str) -> tuple[np.ndarray, float]:
    """Load profiles are divided by their peak |value| (peak becomes 1); PV and wind stay in
    SimBench's p.u. of installed power. Returns (normalised values, factor removed)."""
    scale = float(np.max(np.abs(values))) if kind.startswith("load") else 1.0
    return values / scale, scale


def encode(values: np.ndarray) -> tuple[np.ndarray, float, float]:
    """uint16 codes with value = lo + code · (hi - lo) / 65535."""
    lo, hi = float(values.min()), float(values.max())
    span = hi - lo if hi > lo else 1.0
    codes = np.rint((values - lo) / span * 65535.0).astype(np.uint16)
    return codes, lo, hi


def build() -> dict[str, np.ndarray]:
    """The arrays written into the .npz file."""
    tables, version = read_simbench()
    times = cet_times(tables["load"]["time"])
    if not times.equals(cet_times(tables["renewables"]["time"])):
        raise RuntimeError("SimBench load and renewables time columns differ")
    names, codes, los, his, meta = [], [], [], [], {}
    for name, (table, column, kind, doc) in SELECTION.items():
        values, scale = normalise(tables[table][column].to_numpy(dtype="float64"), kind)
        c, lo, hi = encode(values)
        names.append(name)
        codes.append(c)
        los.append(lo)
        his.append(hi)
        meta[name] = {"column": f"{table}/{column}", "kind": kind, "doc": doc, "scale": scale}
    header = {
        "source": f"SimBench {version}, 1-complete_data-mixed-all-{SCENARIO}-sw",
        "license": "ODbL 1.0 (database), DbCL 1.0 (contents); see README.md",
        "start": str(times[0]),
        "step": str(times[1] - times[0]),
        "steps": len(times),
        "timezone": "naive CET (UTC+01:00) all year; SimBench labels are Europe/Berlin with DST",
        "encoding": "value = lo + code * (hi - lo) / 65535",
        "profiles": meta,
    }
    return {
        "names": np.array(names),
        "codes": np.stack(codes),
        "lo": np.array(los),
        "hi": np.array(his),
        "meta": np.array(json.dumps(header, indent=1)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the shipped file")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    arrays = build()
    if args.check:
        with np.load(args.out, allow_pickle=False) as old:
            same = all(np.array_equal(old[k], v) for k, v in arrays.items() if k != "meta")
        print("extract matches SimBench" if same else "extract DIFFERS from SimBench")
        return 0 if same else 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **arrays)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
