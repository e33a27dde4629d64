"""Operating points of an ED / DC-OPF with many DERs, solved exactly, as a Parquet data set.

An operating point is the loads (MW) and the available power of every generating DER (MW) at
one quarter-hour: loads follow the SimBench ``residential`` profile (annual peak = the case's
``p_mw``) with per-load noise, PV follows ``pv_1`` (installed power × per-unit availability)
with per-unit noise, other DERs (``dg`` …) are derated by a uniform factor each. Every point
is solved to optimality by HiGHS through one persistent
:class:`~dispatchlab.solvers.persistent.DispatchModel`; the rows hold the features, the primal
values, the duals and the optimal basis, with the highspy version and the case hash (also in the
Parquet schema metadata) so that a model is never fitted on one case and used on another.

Case names: any library case, or ``"<base>+ders<N>"`` (e.g. ``"ieee33+ders10000"``), the
synthetic feeder of :func:`ed_der_case`.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path

import highspy
import numpy as np
import pandas as pd

from dispatchlab import load_case
from dispatchlab.cases.timeseries import profile
from dispatchlab.learning.seeding import child_rngs
from dispatchlab.solvers.data import GENERATING_DERS, DispatchData
from dispatchlab.solvers.persistent import DispatchModel
from dispatchlab.solvers.status import Status

HIGHSPY_VERSION = version("highspy")
_SYNTHETIC = re.compile(r"^(?P<base>[\w.\-/]+)\+ders(?P<n>\d+)$")
_STEPS_PER_DAY = 96


def random_pv_dg(
    rng: np.random.Generator,
    n_der: int,
    pv_share: float,
    buses,
    total_x_load: tuple[float, float],
    dg_cost_usd_per_mwh: tuple[float, float],
    load_mw: float,
) -> pd.DataFrame:
    """``n_der`` DER rows at random ``buses``: a ``pv_share`` of PV at 0–5 $/MWh, the rest dg at
    a uniform cost in ``dg_cost_usd_per_mwh``; each kind's total capacity is its factor in
    ``total_x_load`` times ``load_mw``, split evenly."""
    n_pv = round(pv_share * n_der)
    n_dg = n_der - n_pv
    pv_x, dg_x = total_x_load
    return pd.DataFrame(
        {
            "bus": rng.choice(buses, n_der),
            "kind": ["pv"] * n_pv + ["dg"] * n_dg,
            "p_max_mw": np.r_[
                np.full(n_pv, pv_x * load_mw / max(n_pv, 1)),
                np.full(n_dg, dg_x * load_mw / max(n_dg, 1)),
            ],
            "cost_usd_per_mwh": np.round(
                np.r_[rng.uniform(0, 5, n_pv), rng.uniform(*dg_cost_usd_per_mwh, n_dg)], 3
            ),
        }
    )


def ed_der_case(n_der: int, *, base: str = "ieee33", seed: int = 0, pv_share: float = 0.3):
    """``base`` with ``n_der`` DERs on random non-substation buses, named ``base+ders<N>``.

    A share ``pv_share`` are PV (installed 1.5 × the total load over all PV, cost U(0, 5)
    $/MWh); the rest are ``dg`` units (3 × the total load over all, cost U(20, 80) $/MWh). The
    substation buys at 50 $/MWh (the price of ieee123-seed003) so the merit order, not the
    substation, sets the price whenever the DERs are available; ``bench_ed_scaling`` keeps
    ieee33's 20 $/MWh substation, under which every dg unit sits at zero.
    """
    if n_der < 1:
        raise ValueError(f"n_der must be ≥ 1, got {n_der}")
    case = load_case(base)
    rng = child_rngs(seed, 1)[0]
    buses = case.buses.index[case.buses["bus_type"] != "REF"]
    ders = random_pv_dg(rng, n_der, pv_share, buses, (1.5, 3.0), (20.0, 80.0), case.total_load_mw)
    gens = case.gens
    gens.loc[
        gens["bus"].isin(case.buses.index[case.buses["bus_type"] == "REF"]), "cost_c1_usd_per_mwh"
    ] = 50.0
    out = case.replace(gens=gens).with_ders(ders)
    return out.replace(name=f"{base}+ders{n_der}")


def resolve_case(name: str):
    """A library case, or the synthetic ``"<base>+ders<N>"`` feeder of :func:`ed_der_case`."""
    match = _SYNTHETIC.match(name)
    if match:
        return ed_der_case(int(match["n"]), base=match["base"])
    return load_case(name)


@dataclass(frozen=True)
class EDDatasetConfig:
    """How operating points are sampled and which problem solves them."""

    problem: str = "ed"  #: dispatch problem: "ed" (copper plate) or "dcopf"
    formulation: str | None = None  #: network formulation for dcopf ("ptdf", "btheta")
    first_day: int = 0  #: first day of 2016 sampled (0 = 1 January)
    n_days: int = 300  #: days sampled from; later days are left for tests (chronological)
    load_noise: float = 0.05  #: std of the multiplicative noise on each load
    pv_noise: float = 0.1  #: std of the multiplicative noise on each PV unit's availability
    derate_min: float = 0.7  #: non-PV DERs keep a U(derate_min, 1) share of p_max

    def __post_init__(self) -> None:
        if self.problem not in ("ed", "dcopf"):
            raise ValueError(f"problem must be 'ed' or 'dcopf', got {self.problem!r}")
        if self.first_day < 0 or self.n_days < 1 or self.first_day + self.n_days > 366:
            raise ValueError("first_day + n_days must lie within the 366 days of 2016")
        if not 0.0 < self.derate_min <= 1.0:
            raise ValueError(f"derate_min must be in (0, 1], got {self.derate_min}")


@dataclass(frozen=True)
class OperatingPoints:
    """Loads (n, loads) and DER availabilities (n, ders) in MW at ``times``."""

    load_p_mw: np.ndarray
    der_p_max_mw: np.ndarray
    times: pd.DatetimeIndex


def _shapes() -> tuple[np.ndarray, np.ndarray]:
    """Residential load (annual peak 1) and pv_1 availability (p.u.) for every step of 2016."""
    load = profile("residential").to_numpy()
    return load / np.abs(load).max(), profile("pv_1").to_numpy()


def _points_at(
    data: DispatchData, steps: np.ndarray, rng: np.random.Generator, cfg
) -> OperatingPoints:
    """Operating points at quarter-hour ``steps`` of 2016 (noise drawn from ``rng``)."""
    load_shape, pv_shape = _shapes()
    n = len(steps)
    loads, ders = data.loads, data.ders
    base_load = loads["p_mw"][0]
    noise = 1.0 + cfg.load_noise * rng.standard_normal((n, len(base_load)))
    load_p = load_shape[steps, None] * base_load[None, :] * noise
    is_pv = np.asarray(ders["kind"]) == "pv"
    p_max = ders["p_max_mw"][0]
    pv = np.clip(
        pv_shape[steps, None] * (1 + cfg.pv_noise * rng.standard_normal((n, len(p_max)))), 0, 1
    )
    derate = rng.uniform(cfg.derate_min, 1.0, (n, len(p_max)))
    avail = p_max[None, :] * np.where(is_pv[None, :], pv, derate)
    times = pd.Timestamp("2016-01-01") + pd.to_timedelta(15 * steps, unit="min")
    return OperatingPoints(load_p, avail, pd.DatetimeIndex(times))


def sample_points(
    data: DispatchData, n: int, seed: int, config: EDDatasetConfig
) -> OperatingPoints:
    """``n`` points at random quarter-hours of the configured days (seeded)."""
    rng = child_rngs(seed, 1)[0]
    first = config.first_day * _STEPS_PER_DAY
    steps = rng.integers(first, first + config.n_days * _STEPS_PER_DAY, n)
    return _points_at(data, steps, rng, config)


def day_points(data: DispatchData, day: int, seed: int, config: EDDatasetConfig) -> OperatingPoints:
    """The 96 quarter-hours of ``day`` (0 … 365) in order: a rolling dispatch sequence."""
    if not 0 <= day < 366:
        raise ValueError(f"day must be in 0 … 365 (2016), got {day}")
    steps = day * _STEPS_PER_DAY + np.arange(_STEPS_PER_DAY)
    return _points_at(data, steps, child_rngs(seed, 1)[0], config)


def feature_names(data: DispatchData) -> list[str]:
    """Names of :func:`point_features`: total load and total availability per DER kind."""
    return ["load_total_mw"] + [f"{k}_available_mw" for k in GENERATING_DERS]


def kind_codes(data: DispatchData) -> np.ndarray:
    """Position of each DER's kind in ``GENERATING_DERS`` (computed once per model)."""
    kinds = np.asarray(data.ders["kind"])
    codes = np.full(len(kinds), len(GENERATING_DERS), dtype=np.int64)
    for i, k in enumerate(GENERATING_DERS):
        codes[kinds == k] = i
    return codes


def point_features(data: DispatchData, codes: np.ndarray | None = None) -> np.ndarray:
    """Features of the operating point held in ``data`` (period 0): total load (MW) and total
    available power per DER kind (MW); ``codes`` = :func:`kind_codes` (cached by callers).

    In a copper-plate LP the optimal basis is set by where the demand meets the DERs' merit
    order, i.e. by the total load and how much of each kind (cheap PV, dg, …) is available;
    per-bus detail mostly adds noise to nearest-neighbour distances, so it is left out.
    """
    codes = kind_codes(data) if codes is None else codes
    n_kinds = len(GENERATING_DERS)
    per_kind = np.bincount(codes, weights=data.ders["p_max_mw"][0], minlength=n_kinds + 1)
    return np.r_[data.loads["p_mw"][0].sum(), per_kind[:n_kinds]]


def basis_status(h: highspy.Highs) -> tuple[np.ndarray, np.ndarray]:
    """The HiGHS basis as int8 arrays (HighsBasisStatus values: 0 lower, 1 basic, 2 upper …)."""
    basis = h.getBasis()
    cols = np.fromiter((int(s) for s in basis.col_status), np.int8, len(basis.col_status))
    rows = np.fromiter((int(s) for s in basis.row_status), np.int8, len(basis.row_status))
    return cols, rows


def apply_point(dm: DispatchModel, points: OperatingPoints, i: int) -> None:
    """Write point ``i`` into a DispatchModel (loads, then DER availability)."""
    dm.set_loads(points.load_p_mw[i])
    dm.set_der_available(points.der_p_max_mw[i])


def solve_points(dm: DispatchModel, points: OperatingPoints) -> pd.DataFrame:
    """Solve every point exactly; one row per point with features, solution, duals, basis."""
    rows = []
    for i in range(len(points.times)):
        apply_point(dm, points, i)
        sol = dm.solve_raw()
        if sol.status is not Status.OPTIMAL:
            raise RuntimeError(f"point {i} ({points.times[i]}): HiGHS returned {sol.status}")
        cols, rws = basis_status(dm.highs.h)
        rows.append(
            {
                "sample": i,
                "time": points.times[i],
                "features": point_features(dm.data),
                "load_p_mw": points.load_p_mw[i],
                "der_p_max_mw": points.der_p_max_mw[i],
                "objective_usd": sol.objective,
                "iterations": sol.iterations,
                "x": sol.x,
                "row_dual": sol.row_dual,
                "col_status": cols,
                "row_status": rws,
            }
        )
    return pd.DataFrame(rows)


def build_dataset(
    case_name: str, n: int, seed: int, path: str | Path, config: EDDatasetConfig | None = None
) -> Path:
    """Sample ``n`` operating points of ``case_name``, solve each exactly, write Parquet.

    Columns: sample, time, features, load_p_mw, der_p_max_mw, objective_usd, iterations, x,
    row_dual, col_status, row_status (arrays as list columns), plus case_name, case_hash,
    problem, formulation, highspy_version and seed on every row; the same provenance and the
    config sit in the Parquet schema metadata under ``b"dispatchlab"``.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    if n < 1:
        raise ValueError(f"n must be ≥ 1, got {n}")
    config = config or EDDatasetConfig()
    case = resolve_case(case_name)
    dm = DispatchModel(case, config.problem, formulation=config.formulation)
    frame = solve_points(dm, sample_points(dm.data, n, seed, config))
    meta = {
        "case_name": case_name,
        "case_hash": case.case_hash(),
        "problem": config.problem,
        "formulation": dm.options.network,
        "highspy_version": HIGHSPY_VERSION,
        "seed": int(seed),
        "feature_names": feature_names(dm.data),
        "config": asdict(config),
    }
    for key in ("case_name", "case_hash", "problem", "formulation", "highspy_version", "seed"):
        frame[key] = meta[key]
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata(
        {**(table.schema.metadata or {}), b"dispatchlab": json.dumps(meta).encode()}
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return path


def dataset_provenance(dataset: pd.DataFrame) -> dict:
    """case_name / case_hash / problem / formulation of a data set (one value each, checked)."""
    required = ("case_name", "case_hash", "problem", "formulation", "features")
    missing = [c for c in required if c not in dataset.columns]
    if missing:
        raise ValueError(f"data set lacks column(s) {missing}; build it with build_dataset()")
    if len(dataset) == 0:
        raise ValueError("data set is empty")
    out = {}
    for key in required[:4]:
        values = dataset[key].unique()
        if len(values) != 1:
            raise ValueError(f"data set mixes {len(values)} values of '{key}': {values[:3]}")
        out[key] = str(values[0])
    return out


def stacked(dataset: pd.DataFrame, column: str, dtype=float) -> np.ndarray:
    """A list column as a 2-D array (rows × length), with a clear error on ragged rows."""
    values = dataset[column].to_list()
    lengths = {len(v) for v in values}
    if len(lengths) != 1:
        raise ValueError(f"column '{column}' has rows of different lengths {sorted(lengths)}")
    return np.asarray(np.stack([np.asarray(v) for v in values]), dtype=dtype)


def evaluate_points(attached, dataset: pd.DataFrame) -> pd.DataFrame:
    """Solve every point of an ED/DC-OPF data set with a reduction attached to its case
    (:class:`PrunedDispatch` or :class:`WarmStartedDispatch`) and compare with the exact
    objective stored in the data set: one row per point (``rel_gap``, report counts, time)."""
    rows = []
    for _, point in dataset.iterrows():
        attached.set_loads(np.asarray(point["load_p_mw"], float))
        attached.set_der_available(np.asarray(point["der_p_max_mw"], float))
        sol, report = attached.solve_raw()
        exact = float(point["objective_usd"])
        rows.append(
            {
                "sample": int(point["sample"]),
                "status": str(sol.status),
                "objective": sol.objective,
                "objective_exact": exact,
                "rel_gap": abs(sol.objective - exact) / max(abs(exact), 1e-9),
                "predicted": report.predicted,
                "missed": report.missed,
                "added_back": report.added_back,
                "rounds": report.rounds,
                "certified": report.certified,
                "fallback": report.fallback,
                "iterations": report.extra.get("iterations", sol.iterations),
                "time_s": report.timings.get("total", float("nan")),
            }
        )
    return pd.DataFrame(rows)
