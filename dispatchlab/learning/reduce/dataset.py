"""Datasets for learned constraint screening: exact N-1 SCED solves over many operating points.

An *operating point* is a library case, optionally modified (``p_min_zero``, ``rating_factor``),
then taken at one hour of its time series (``hour``) and/or with its loads perturbed
(``load_scale`` times ``1 + load_noise·N(0, 1)`` per load, drawn from ``(seed, index)``). Every
point is rebuilt from these scalars, so a row of the dataset is a recipe that any process can
replay; points are solved in parallel through :func:`dispatchlab.sweep.run_sweep`.

Each row holds the point's features (``x/load_p_mw/<load_id>``, ``x/gen_on/<gen_id>``,
``x/der_p_max_mw/<der_id>``), the exact objective, and its *binding set*: the rows of eq. (2) of
:mod:`dispatchlab.solvers.problems.sced_rows` that are active at the optimum — a nonzero dual,
or a flow within ``tol`` of its limit (``|f| ≥ rate·(1 − tol)``). Pairs are written
``"<branch_id>:<outage_branch_id>"`` (``-1``: base case), space-separated. Provenance columns:
``case_hash`` (of the modified base case), ``network_hash`` (topology, impedances, ratings,
contingencies), ``solver_version`` and ``dispatchlab_version``.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dispatchlab.sweep.task import Task

TASK_FUNCTION = "dispatchlab.learning.reduce.dataset:sced_point"
FEATURE_PREFIX = "x/"
REQUIRED = ("scenario", "case", "case_hash", "network_hash", "status", "objective", "binding")
RECIPE = ("hour", "load_scale", "load_noise", "index", "seed", "p_min_zero", "rating_factor")
#: ``|f| ≥ rate·(1 − tol)`` counts as binding; duals above this ($/MWh) too
DUAL_TOL = 1e-7


class DatasetError(ValueError):
    """A dataset that does not fit the model or case it is used with."""


@dataclass(frozen=True)
class DatasetConfig:
    """How :func:`build_sced_dataset` solves the operating points."""

    method: str = "lazy"  #: exact SCED method: lazy or full (same optimum)
    backend: str = "highs"  #: highs (warm re-solves, QP active set) or clarabel
    p_min_zero: bool = False  #: relax every generator's p_min to 0 (ACTIVSg N-1 feasibility)
    rating_factor: float = 1.0  #: multiply rate_a/rate_c (tighten to create congestion)
    tol: float = 1e-6  #: relative distance to the limit that still counts as binding
    workers: int | None = None  #: sweep processes (None: every CPU)
    timeout_s: float | None = None  #: per-point bound of the sweep runner
    seed: int = 0  #: seed of the load perturbations (with each scenario's index)
    #: shed load at VOLL (asked for: the SCED default is no shedding): PGLib and ACTIVSg
    #: points are not all N-1 secure, and every point needs an optimum to be labelled
    allow_shedding: bool = True


def solver_version() -> str:
    """The solver that produced the labels, e.g. ``highspy 1.16.0``."""
    return f"highspy {importlib.metadata.version('highspy')}"


@lru_cache(maxsize=4)
def base_case(name: str, p_min_zero: bool = False, rating_factor: float = 1.0) -> Any:
    """The library case ``name`` with the dataset's modifications (cached per process)."""
    from dispatchlab.cases.library import load_case

    case = load_case(name)
    if p_min_zero:
        gens = case.gens
        gens["p_min_mw"] = 0.0
        case = case.replace(gens=gens)
    if rating_factor != 1.0:
        if rating_factor <= 0:
            raise ValueError(f"rating_factor must be > 0, got {rating_factor}")
        br = case.branches
        br[["rate_a_mva", "rate_c_mva"]] = br[["rate_a_mva", "rate_c_mva"]] * rating_factor
        case = case.replace(branches=br)
    return case


@lru_cache(maxsize=4)
def _hashes(name: str, p_min_zero: bool, rating_factor: float, contingencies: str):
    case = base_case(name, p_min_zero, rating_factor)
    return case.case_hash(), network_hash(case, contingencies)


def network_hash(case: Any, contingencies: Any = "auto") -> str:
    """SHA-256 of what fixes the rows of eq. (2): buses, branch topology, impedances,
    ratings, the contingency table and the contingency choice (not loads or costs)."""
    h = hashlib.sha256()
    cols = ["from_bus", "to_bus", "x_pu", "tap_ratio", "shift_deg", "in_service"]
    cols += ["rate_a_mva", "rate_c_mva"]
    h.update(pd.util.hash_pandas_object(case.table("branches")[cols]).to_numpy().tobytes())
    h.update(pd.util.hash_pandas_object(case.table("buses")["bus_type"]).to_numpy().tobytes())
    if len(case.contingencies):
        h.update(pd.util.hash_pandas_object(case.contingencies).to_numpy().tobytes())
    h.update(contingency_spec(contingencies).encode())
    return h.hexdigest()[:16]


def contingency_spec(contingencies: Any) -> str:
    """``auto``/``case``/``all`` or comma-separated branch ids: a scalar for task params."""
    if isinstance(contingencies, str):
        return contingencies
    return ",".join(str(int(b)) for b in contingencies)


def parse_contingencies(spec: str) -> Any:
    """The inverse of :func:`contingency_spec` (a list of branch ids, or the keyword)."""
    if spec in ("auto", "case", "all"):
        return spec
    return [int(b) for b in spec.split(",") if b]


def operating_point(base: Any, params: Mapping[str, Any]) -> Any:
    """The case of one scenario: ``hour`` of the time series, then loads times ``load_scale``
    and per-load noise ``1 + load_noise·N(0, 1)`` (clipped at 0) from ``(seed, index)``."""
    case = base.at(int(params["hour"])) if params.get("hour") is not None else base
    scale = float(params.get("load_scale") or 1.0)
    noise = float(params.get("load_noise") or 0.0)
    if scale == 1.0 and noise == 0.0:
        return case
    loads = case.loads
    factor = np.full(len(loads), scale)
    if noise:
        rng = np.random.default_rng([int(params.get("seed") or 0), int(params.get("index") or 0)])
        factor *= np.clip(1.0 + noise * rng.standard_normal(len(loads)), 0.0, None)
    loads["p_mw"] = loads["p_mw"].to_numpy() * factor
    loads["q_mvar"] = loads["q_mvar"].to_numpy() * factor
    return case.replace(loads=loads)


def features(case: Any) -> dict[str, float]:
    """The point's features: every load's P, each generator's commitment (in service with
    p_max > 0) and each renewable DER's available power."""
    from dispatchlab.solvers.data import RENEWABLE_DERS

    loads, gens, ders = case.table("loads"), case.table("gens"), case.table("ders")
    out = {f"load_p_mw/{i}": float(v) for i, v in loads["p_mw"].items()}
    on = gens["in_service"].to_numpy() & (gens["p_max_mw"].to_numpy() > 0)
    out |= {f"gen_on/{i}": float(v) for i, v in zip(gens.index, on, strict=True)}
    ren = ders[ders["kind"].isin(RENEWABLE_DERS)] if len(ders) else ders
    if len(ren):
        out |= {f"der_p_max_mw/{i}": float(v) for i, v in ren["p_max_mw"].items()}
    return out


def binding_pairs(result: Any, tol: float) -> list[tuple[int, int]]:
    """Active rows of eq. (2) at the SCED optimum ``result``: ``(branch_id, outage_id)``
    with ``outage_id = −1`` for the base case; nonzero dual or ``|f| ≥ rate·(1 − tol)``."""
    br = result.branch
    base = np.abs(br["shadow_price_usd_per_mwh"].to_numpy()) > DUAL_TOL
    base |= br["loading_pct"].to_numpy() >= 100.0 * (1.0 - tol)
    pairs = {(int(b), -1) for b in br.index.get_level_values(0)[base]}
    tight = br["ctg_loading_pct"].to_numpy() >= 100.0 * (1.0 - tol)
    worst = br["ctg_worst_outage_branch_id"].to_numpy()
    pairs |= {(int(b), int(k)) for b, k in zip(br.index.get_level_values(0)[tight], worst[tight],
                                                strict=True)}  # fmt: skip
    bc = result.info.get("binding_contingencies")
    if bc is not None and len(bc):
        act = bc[np.abs(bc["shadow_price_usd_per_mwh"].to_numpy()) > DUAL_TOL]
        pairs |= set(zip(act["branch_id"].astype(int), act["outage_branch_id"].astype(int),
                         strict=True))  # fmt: skip
    return sorted(pairs)


def encode_pairs(pairs: Sequence[tuple[int, int]]) -> str:
    return " ".join(f"{b}:{k}" for b, k in pairs)


def decode_pairs(text: str | None) -> list[tuple[int, int]]:
    """``"12:-1 7:40"`` → ``[(12, -1), (7, 40)]``."""
    if not text:
        return []
    return [tuple(int(v) for v in p.split(":")) for p in str(text).split()]  # type: ignore[misc]


def sced_point(task: Task) -> dict[str, Any]:
    """Sweep task: solve the exact N-1 SCED of one operating point (params: the recipe of
    :func:`operating_point`, the base modifications, ``contingencies``, ``sced_method``,
    ``backend``, ``tol``) and return its features, objective and binding set."""
    from dispatchlab.solvers.api import solve

    mods = (task.case, bool(task.param("p_min_zero", False)), float(task.param("rating_factor", 1)))
    spec = str(task.param("contingencies", "auto"))
    case = operating_point(base_case(*mods), {**dict(task.params), "seed": task.seed})
    r = solve(case, "sced", method=str(task.param("sced_method", "lazy")),
              backend=str(task.param("backend", "highs")),
              contingencies=parse_contingencies(spec),
              allow_shedding=bool(task.param("allow_shedding", False)))  # fmt: skip
    case_hash, net_hash = _hashes(*mods, spec)
    out: dict[str, Any] = {
        "case_hash": case_hash, "network_hash": net_hash, "solver_version": solver_version(),
        "status": str(getattr(r.status, "value", r.status)), "objective": r.objective,
        "rounds": r.info.get("rounds"), "solve_s": r.timings.get("solve"),
        "total_s": r.timings.get("total"),
    }  # fmt: skip
    pairs = binding_pairs(r, float(task.param("tol", 1e-6))) if r.branch is not None else []
    out |= {"binding": encode_pairs(pairs), "n_binding": len(pairs)}
    return out | {FEATURE_PREFIX + k: v for k, v in features(case).items()}


sced_point.preload = ("dispatchlab.sweep.warm",)  # type: ignore[attr-defined]


def sample_hours(case: Any, months: Sequence[int], n: int, seed: int = 0) -> list[int]:
    """``n`` distinct hour positions of ``case.timeseries`` whose month is in ``months``,
    drawn without replacement and sorted."""
    if case.timeseries is None:
        raise ValueError(f"case '{case.name}' has no time series to sample hours from")
    idx = pd.DatetimeIndex(case.timeseries.index)
    pool = np.flatnonzero(idx.month.isin(list(months)))
    if n > len(pool):
        raise ValueError(f"asked for {n} hours, months {list(months)} have only {len(pool)}")
    return sorted(np.random.default_rng(seed).choice(pool, n, replace=False).tolist())


def build_sced_dataset(
    case: str,
    scenarios: Sequence[Mapping[str, Any]],
    contingencies: Any = "auto",
    config: DatasetConfig | None = None,
    out: str | Path | None = None,
) -> pd.DataFrame:
    """Solve the exact SCED of every scenario of library case ``case`` through the sweep
    runner and return (and write to ``out``, Parquet) one row per operating point. Scenario
    dicts hold ``hour`` and/or ``load_scale``/``load_noise``; an ``index`` is added by position.
    A failed point raises (nothing is dropped silently)."""
    from dispatchlab.sweep import make_grid, read_results, run_sweep

    cfg = config or DatasetConfig()
    common = {"contingencies": contingency_spec(contingencies), "sced_method": cfg.method,
              "backend": cfg.backend, "tol": cfg.tol, "p_min_zero": cfg.p_min_zero,
              "rating_factor": float(cfg.rating_factor),
              "allow_shedding": bool(cfg.allow_shedding)}  # fmt: skip
    named = {f"p{i:05d}": {"index": i, **dict(s)} for i, s in enumerate(scenarios)}
    tasks = make_grid([case], named, methods=["sced"], seeds=[cfg.seed], common=common)
    with tempfile.TemporaryDirectory(prefix="sced-dataset-") as tmp:
        sweep_dir = Path(f"{out}.sweep") if out is not None else Path(tmp)
        report = run_sweep(TASK_FUNCTION, tasks, sweep_dir, workers=cfg.workers,
                           timeout_s=cfg.timeout_s, retry_failed=True, progress=False)  # fmt: skip
        df = read_results(sweep_dir)
    bad = df[df["task_status"] != "ok"]
    if len(bad) or not report.ok:
        first = bad.iloc[0] if len(bad) else None
        why = f"{first['scenario']}: {first['error']}" if first is not None else str(report)
        raise RuntimeError(f"{len(bad)} of {len(df)} SCED points failed; first {why}")
    df = _tidy(df)
    if out is not None:
        write_dataset(df, out)
    return df


def _tidy(df: pd.DataFrame) -> pd.DataFrame:
    """Recipe columns out of the JSON params, runner columns dropped, sorted by scenario."""
    import json

    params = pd.DataFrame([json.loads(p) for p in df["params"]], index=df.index)
    keep = [c for c in RECIPE if c in params] + ["contingencies", "sced_method"]
    keep += ["allow_shedding"] if "allow_shedding" in params else []
    params = params.reindex(columns=keep)
    params["seed"] = df["seed"]
    drop = ["task_id", "params", "task_status", "error", "traceback", "attempts", "method"]
    rest = df.drop(columns=[c for c in drop if c in df] + ["seed"])
    rest = rest.rename(columns={"elapsed_s": "task_s"})
    front = ["scenario", "case"]
    out = pd.concat([rest[front], params, rest.drop(columns=front)], axis=1)
    return out.sort_values("scenario", kind="stable").reset_index(drop=True)


def write_dataset(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a dataset as one Parquet file (checked for the required columns first)."""
    check_columns(df, path)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_parquet(path, index=False)
    return path


def read_dataset(path: str | Path, case: Any = None) -> pd.DataFrame:
    """Read a dataset; with ``case`` (a Case), refuse one built for another network."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"dataset {path} does not exist")
    df = pd.read_parquet(path)
    check_columns(df, path)
    if case is not None:
        spec = str(df["contingencies"].iloc[0]) if "contingencies" in df else "auto"
        want = network_hash(case, parse_contingencies(spec))
        got = sorted(set(df["network_hash"]))
        if got != [want]:
            raise DatasetError(
                f"{path}: built for network hash {got}, but case '{case.name}' has {want}: "
                "rebuild the dataset for this case"
            )
    return df


def check_columns(df: pd.DataFrame, where: Any = "dataset") -> None:
    """Raise :class:`DatasetError` naming the missing columns (and the feature prefix)."""
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise DatasetError(
            f"{where}: missing columns {missing} (a build_sced_dataset table has "
            f"{list(REQUIRED)} and feature columns '{FEATURE_PREFIX}…')"
        )
    if not any(str(c).startswith(FEATURE_PREFIX) for c in df.columns):
        raise DatasetError(f"{where}: no feature columns (names starting with '{FEATURE_PREFIX}')")


def point_cases(df: pd.DataFrame) -> list[Any]:
    """Rebuild each row's operating point from its recipe columns."""
    out = []
    for row in df.to_dict("records"):
        mods = (row["case"], bool(row.get("p_min_zero") or False),
                float(row.get("rating_factor") or 1.0))  # fmt: skip
        params = {k: (None if _isnan(row.get(k)) else row.get(k)) for k in RECIPE}
        out.append(operating_point(base_case(*mods), params))
    return out


def _isnan(v: Any) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v))
