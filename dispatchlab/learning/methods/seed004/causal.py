"""seed004 §2.5: a structural causal model of the exact dispatch and g-computation on it.

The SCM (:data:`SCM_EDGES`) is the paper's skeleton over the variables of
:mod:`.causal_data` — calendar → wind, load; wind, load → net load → reserve, dispatch;
dispatch, wind → line stress → congestion, curtailment, cost — with no weather node: the case
has no weather series, and the wind availability is the root weather would drive. The
treatment's adjustment set is its parents in the graph plus the exogenous roots that are not
its descendants (a back-door set when every parent is observed; the others only sharpen).
The effect of shifting the treatment beyond where the data put it at given covariates
(positivity) is an extrapolation of the outcome model: do(wind = p90) at an hour when wind
was never that high, load × 1.1 at the peak.

:func:`g_computation` fits one outcome model E[Y | T, X] (scikit-learn: cubic splines of
each variable, their pairwise products, ridge; :func:`_model`) and averages
f(t₁(x), x) − f(t₀(x), x) over the units asked about; its CI is a bootstrap over whole
days (intervals of a day are dependent).
Robustness: :func:`placebo` (the treatment permuted within diurnal blocks, which keeps its
link with the hour and breaks the one with the outcome: the effect should vanish),
:func:`leave_one_covariate_out`, and :func:`robustness_value` (Cinelli & Hazlett 2020: the
partial R² an unobserved confounder needs with both treatment and outcome to bring the
linear-adjusted effect to zero, i.e. to flip its sign). The design choice against dowhy is
in docs/design/causal.md.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import networkx as nx
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import PolynomialFeatures, SplineTransformer, StandardScaler
from threadpoolctl import threadpool_limits

__all__ = [
    "EXOGENOUS",
    "SCM_EDGES",
    "Contrast",
    "Estimate",
    "adjustment_set",
    "g_computation",
    "leave_one_covariate_out",
    "placebo",
    "robustness_value",
    "scm",
]

#: cause -> effect (seed004 §2.5's skeleton without the weather node, see the module docstring)
SCM_EDGES = (
    ("hour", "wind_mw"),
    ("hour", "load_mw"),
    ("wind_mw", "net_load_mw"),
    ("load_mw", "net_load_mw"),
    ("net_load_mw", "reserve_mw"),
    ("net_load_mw", "dispatch_mw"),
    ("reserve_mw", "dispatch_mw"),
    ("dispatch_mw", "line_stress_pct"),
    ("wind_mw", "line_stress_pct"),
    ("wind_mw", "curtailment_pct"),
    ("line_stress_pct", "curtailment_pct"),
    ("line_stress_pct", "congestion"),
    ("line_stress_pct", "cost_usd_per_mwh"),
    ("dispatch_mw", "cost_usd_per_mwh"),
    ("curtailment_pct", "cost_usd_per_mwh"),
)

#: (treatment values) -> treated values, e.g. ``lambda t: t * 1.1``
Shift = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Contrast:
    """The two interventions compared: ``treated(t)`` against ``control(t)``."""

    treatment: str
    treated: Shift
    control: Shift
    label: str


def scm() -> nx.DiGraph:
    graph = nx.DiGraph(SCM_EDGES)
    if not nx.is_directed_acyclic_graph(graph):  # guards edits of SCM_EDGES
        raise ValueError("SCM_EDGES has a cycle")
    return graph


#: the variables no dispatch decision sets (calendar, wind availability, demand)
EXOGENOUS = ("hour", "wind_mw", "load_mw")


def adjustment_set(treatment: str, graph: nx.DiGraph | None = None) -> list[str]:
    """Parents of ``treatment`` (the back-door set) plus the exogenous variables that are not
    its descendants (precision: they explain the outcome and cannot be mediators)."""
    g = graph or scm()
    if treatment not in g:
        raise ValueError(f"{treatment!r} is not a variable of the SCM; have {sorted(g)}")
    keep = set(g.predecessors(treatment)) | (set(EXOGENOUS) - nx.descendants(g, treatment))
    return sorted(keep - {treatment})


@dataclass(frozen=True)
class Estimate:
    """An average effect with its percentile bootstrap CI."""

    outcome: str
    ate: float
    lo: float
    hi: float
    n_boot: int

    def covers(self, value: float) -> bool:
        return self.lo <= value <= self.hi


def _check_columns(data: pd.DataFrame, treatment: str, outcome: str, covariates) -> None:
    missing = [c for c in (treatment, outcome, *covariates, "day") if c not in data]
    if missing:
        raise ValueError(f"data has no column(s) {missing}; columns: {list(data.columns)}")
    t = data[treatment].to_numpy(float)
    if np.ptp(t) <= 1e-12 * max(1.0, float(np.abs(t).max())):
        raise ValueError(
            f"treatment column {treatment!r} is constant ({float(t[0])!r}) in the data: its effect "
            "is not identified"
        )
    if treatment in covariates:
        raise ValueError(f"treatment {treatment!r} is also a covariate")


def _model(columns: Sequence[str]) -> Pipeline:
    """Cubic splines of every column — periodic in the hour; linear beyond the data for the
    treatment (columns[0]: a shifted treatment extrapolates along its edge slope, not flat as
    trees do); constant beyond the data for the covariates — their pairwise products (the
    effect may depend on the covariates), standardized, ridge (α = 1)."""
    parts = []
    for i, name in enumerate(columns):
        if name == "hour":
            knots = np.linspace(0.0, 24.0, 7)[:, None]  # the period is the day, not the data
            spline = SplineTransformer(knots=knots, degree=3, extrapolation="periodic")
        else:
            edge = "linear" if i == 0 else "constant"
            spline = SplineTransformer(n_knots=6, degree=3, extrapolation=edge)
        parts.append((name, spline, [i]))
    return Pipeline(
        [
            ("splines", ColumnTransformer(parts)),
            ("pairs", PolynomialFeatures(2, interaction_only=True, include_bias=False)),
            ("scale", StandardScaler()),
            ("ridge", Ridge(alpha=1.0)),
        ]
    )


def _effect(train: pd.DataFrame, units: pd.DataFrame, contrast, outcome, covariates):
    cols = [contrast.treatment, *covariates]
    # one BLAS thread: on a shared 2-core host a thread pool made each fit many times slower
    with threadpool_limits(1):
        model = _model(cols).fit(train[cols].to_numpy(float), train[outcome].to_numpy(float))
    x = units[cols].to_numpy(float)
    t = x[:, 0].copy()
    x1, x0 = x.copy(), x.copy()
    x1[:, 0], x0[:, 0] = contrast.treated(t), contrast.control(t)
    # predictions stay in the outcome's observed range: a probability stays in [0, 1], and a
    # spline extrapolated far off the data cannot dominate a bootstrap resample
    lo, hi = float(train[outcome].min()), float(train[outcome].max())
    with threadpool_limits(1):
        y1, y0 = model.predict(x1), model.predict(x0)
    return float(np.mean(np.clip(y1, lo, hi) - np.clip(y0, lo, hi)))


def _by_day(data: pd.DataFrame) -> dict[int, pd.DataFrame]:
    return {int(d): g for d, g in data.groupby("day")}


def g_computation(
    data: pd.DataFrame,
    contrast: Contrast,
    outcome: str,
    covariates: Sequence[str],
    *,
    units: pd.DataFrame | None = None,
    n_boot: int = 200,
    ci: float = 0.95,
    seed: int = 0,
) -> Estimate:
    """ATE of ``contrast`` on ``outcome`` adjusted for ``covariates`` (module docstring),
    averaged over ``units`` (default: ``data``); CI by resampling days of ``data``."""
    covariates = list(covariates)
    _check_columns(data, contrast.treatment, outcome, covariates)
    units = data if units is None else units
    point = _effect(data, units, contrast, outcome, covariates)
    days = _by_day(data)
    keys = np.array(sorted(days))
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        sample = pd.concat([days[k] for k in rng.choice(keys, len(keys))])
        boots.append(_effect(sample, units, contrast, outcome, covariates))
    lo, hi = np.percentile(boots, [50 * (1 - ci), 50 * (1 + ci)]) if boots else (point, point)
    return Estimate(outcome=outcome, ate=point, lo=float(lo), hi=float(hi), n_boot=n_boot)


def placebo(
    data: pd.DataFrame,
    contrast: Contrast,
    outcome: str,
    covariates: Sequence[str],
    *,
    units: pd.DataFrame | None = None,
    n_perm: int = 20,
    block_hours: float = 4.0,
    seed: int = 0,
) -> Estimate:
    """The effect after permuting the treatment within diurnal blocks of ``block_hours``
    (across days): mean and 95 % range over ``n_perm`` permutations; ≈ 0 when the estimate
    rests on the treatment rather than on the hour it tracks."""
    if "hour" not in data:
        raise ValueError("placebo needs an 'hour' column for the diurnal blocks")
    _check_columns(data, contrast.treatment, outcome, list(covariates))
    rng = np.random.default_rng(seed)
    block = (data["hour"].to_numpy(float) // block_hours).astype(int)
    units = data if units is None else units
    effects = []
    for _ in range(n_perm):
        shuffled = data.copy()
        t = shuffled[contrast.treatment].to_numpy(float).copy()
        for b in np.unique(block):
            idx = np.flatnonzero(block == b)
            t[idx] = t[rng.permutation(idx)]
        shuffled[contrast.treatment] = t
        effects.append(_effect(shuffled, units, contrast, outcome, list(covariates)))
    lo, hi = np.percentile(effects, [2.5, 97.5])
    return Estimate(outcome, float(np.mean(effects)), float(lo), float(hi), n_perm)


def leave_one_covariate_out(
    data: pd.DataFrame,
    contrast: Contrast,
    outcome: str,
    covariates: Sequence[str],
    *,
    units: pd.DataFrame | None = None,
    seed: int = 0,
) -> dict[str, float]:
    """The point ATE with each covariate dropped in turn: {dropped covariate: ATE}."""
    covariates = list(covariates)
    _check_columns(data, contrast.treatment, outcome, covariates)
    units = data if units is None else units
    return {
        c: _effect(data, units, contrast, outcome, [k for k in covariates if k != c])
        for c in covariates
    }


def robustness_value(
    data: pd.DataFrame, treatment: str, outcome: str, covariates: Sequence[str]
) -> dict[str, float]:
    """Cinelli & Hazlett (2020) on the linear regression ``outcome ~ treatment + covariates``
    (hour as sin/cos): the treatment's t-statistic, its partial R², and the robustness value
    RV = ½(√(f⁴ + 4f²) − f²), f² = t²/dof — the share of the residual variance of both the
    treatment and the outcome that a confounder must explain to move the effect to zero (and
    beyond it, to flip its sign)."""
    covariates = list(covariates)
    _check_columns(data, treatment, outcome, covariates)
    cols = [data[treatment].to_numpy(float)]
    for c in covariates:
        v = data[c].to_numpy(float)
        cols += [np.sin(2 * np.pi * v / 24), np.cos(2 * np.pi * v / 24)] if c == "hour" else [v]
    x = np.column_stack([np.ones(len(data)), *cols])
    y = data[outcome].to_numpy(float)
    beta, *_ = np.linalg.lstsq(x, y, rcond=None)
    resid = y - x @ beta
    dof = len(y) - x.shape[1]
    sigma2 = float(resid @ resid) / dof
    cov = sigma2 * np.linalg.pinv(x.T @ x)
    t = float(beta[1] / np.sqrt(cov[1, 1])) if cov[1, 1] > 0 else float("inf")
    f2 = t * t / dof
    rv = 0.5 * (np.sqrt(f2 * f2 + 4 * f2) - f2)
    return {
        "linear_coef": float(beta[1]),
        "t_stat": t,
        "partial_r2": f2 / (1 + f2),
        "robustness_value": float(rv),
    }
