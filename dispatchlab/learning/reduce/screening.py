"""Learned constraint screening for N-1 SCED, certified by a PTDF/LODF check of every omitted row.

``ConstraintScreening(config).fit(dataset)`` learns, for each row of eq. (2) of
:mod:`dispatchlab.solvers.problems.sced_rows` (monitored branch l, outage k; k = −1 for the base
case) that was binding in at least one training point, the probability that it binds given the
operating point's features (loads, generator commitment, renewable output). ``solve(case)``:

1. features → binding probabilities (one logistic regression per pair, one matrix product);
2. keep the pairs with probability ≥ ``threshold`` *or* a training binding frequency ≥
   ``keep_frequency`` (the safety margin: rows that bind in most hours are kept even when the
   classifier hesitates, since an extra row costs far less than a repair round);
3. build the SCED with only those rows and solve it (HiGHS, persistent);
4. certificate: the post-contingency flows ``f_l + LODF_l,k f_k`` of *every* (l, k) — and the
   base flows — are checked, vectorised over LODF chunks (``sced_rows.screen``); violated rows
   are added back (the worst ``k_per_round`` per round) and the model is re-solved warm, until
   none is violated. The reduced feasible set contains the full one, so once no omitted row is
   violated the reduced optimum is feasible for the full SCED and hence its optimum.

Why logistic regression: calibrated probabilities give the threshold a meaning, the fit is
convex and deterministic, inference is one matrix product (µs against a solve of seconds), and
the model is a few arrays — stored as such by :mod:`dispatchlab.learning.checkpoint`, not
pickled. A miss costs one warm re-solve, not a wrong answer, so a simple model suffices (the
learning-to-screen idea of Pineda, Morales & Jiménez-Cordero, IEEE TPWRS 35(6), 2020).

The network factors (DC network, contingency set, LODF columns, PTDF rows of the learned pairs)
depend only on the topology, which is fixed for a trained model: they are computed on the
first ``solve`` and kept (``network_cache``), and the first call's time includes them.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np
import pandas as pd

from dispatchlab.learning.checkpoint import config_from, load_checkpoint, save_checkpoint
from dispatchlab.learning.reduce.base import ReductionReport
from dispatchlab.learning.reduce.dataset import (
    FEATURE_PREFIX,
    DatasetError,
    check_columns,
    decode_pairs,
    features,
    network_hash,
    parse_contingencies,
    point_cases,
)

METHOD = "screening"


@dataclass(frozen=True)
class Config:
    """Hyperparameters of :class:`ConstraintScreening`."""

    threshold: float = 0.1  #: keep a pair when its predicted binding probability ≥ this
    keep_frequency: float = 0.5  #: … or when it bound in ≥ this share of training points
    c: float = 1.0  #: inverse L2 strength of each logistic regression (sklearn's C)
    max_iter: int = 500  #: lbfgs iterations per logistic regression
    k_per_round: int = 50  #: repair: most violated rows added per warm re-solve
    tol: float = 1e-6  #: certificate: violated when |f| − rate > tol·max(rate, 1 MW)
    max_rounds: int = 100  #: repair rounds before falling back to plain lazy SCED
    backend: str = "highs"  #: highs (persistent, warm re-solves) or clarabel
    seed: int = 0  #: seed of the classifiers' solver

    def __post_init__(self):
        if not 0.0 <= self.threshold <= 1.0 or not 0.0 <= self.keep_frequency <= 1.0:
            raise ValueError("threshold and keep_frequency must lie in [0, 1]")
        if self.backend not in ("highs", "clarabel"):
            raise ValueError(f"backend must be 'highs' or 'clarabel', not '{self.backend}'")


@dataclass
class _Fitted:
    """The fitted arrays (what the checkpoint stores)."""

    feature_names: np.ndarray  # (F,) str
    mean: np.ndarray  # (F,) feature means
    scale: np.ndarray  # (F,) feature std (1 where constant)
    pairs: np.ndarray  # (P, 2) int: branch_id, outage branch_id (−1: base)
    coef: np.ndarray  # (P, F) logistic coefficients on standardised features
    intercept: np.ndarray  # (P,)
    frequency: np.ndarray  # (P,) share of training points where the pair bound


class ConstraintScreening:
    """Predict the binding N-1 SCED rows, solve the reduced SCED, certify and repair."""

    Config = Config

    def __init__(self, config: Config | None = None):
        self.config = config or Config()
        self.fitted: _Fitted | None = None
        self.meta: dict[str, Any] = {}
        self.network_cache: dict[str, Any] = {}

    # ------------------------------------------------------------------------------ fit
    def fit(self, dataset: pd.DataFrame | str | Path) -> Self:
        """Fit one logistic regression per pair that bound in some training point."""
        from sklearn.linear_model import LogisticRegression

        df = _frame(dataset)
        x, names = _feature_matrix(df)
        labels = [set(decode_pairs(b)) for b in df["binding"]]
        pairs = sorted(set().union(*labels)) if labels else []
        y = np.array([[p in lab for p in pairs] for lab in labels], dtype=bool).reshape(
            len(df), len(pairs)
        )
        mean, scale = x.mean(axis=0), x.std(axis=0)
        scale = np.where(scale > 1e-12, scale, 1.0)
        z = (x - mean) / scale
        coef, intercept = np.zeros((len(pairs), len(names))), np.zeros(len(pairs))
        freq = y.mean(axis=0) if len(pairs) else np.zeros(0)
        for j in range(len(pairs)):
            if 0 < y[:, j].sum() < len(df):
                lr = LogisticRegression(C=self.config.c, max_iter=self.config.max_iter,
                                        random_state=self.config.seed).fit(z, y[:, j])  # fmt: skip
                coef[j], intercept[j] = lr.coef_[0], lr.intercept_[0]
            else:  # one class only: its frequency is the probability
                intercept[j] = _logit(freq[j])
        self.fitted = _Fitted(np.asarray(names, dtype=str), mean, scale,
                              np.asarray(pairs, dtype=np.int64).reshape(-1, 2), coef, intercept,
                              freq)  # fmt: skip
        first = df.iloc[0]
        self.meta = {"case": str(first["case"]), "case_hash": str(first["case_hash"]),
                     "network_hash": str(first["network_hash"]),
                     "contingencies": str(first.get("contingencies", "auto")),
                     "allow_shedding": bool(first.get("allow_shedding", False)),
                     "solver_version": str(first.get("solver_version", "")),
                     "n_train": len(df)}  # fmt: skip
        self.network_cache = {}
        return self

    # ---------------------------------------------------------------------------- predict
    def predict_proba(self, case_or_features: Any) -> np.ndarray:
        """Binding probability of each learned pair (``self.fitted.pairs`` order)."""
        f = self._require()
        x = self._features(case_or_features)
        s = f.coef @ ((x - f.mean) / f.scale) + f.intercept
        return 1.0 / (1.0 + np.exp(-s))

    def predict(self, case_or_features: Any) -> np.ndarray:
        """The kept pairs (P', 2): probability ≥ threshold or frequency ≥ keep_frequency."""
        f = self._require()
        keep = (self.predict_proba(case_or_features) >= self.config.threshold) | (
            f.frequency >= self.config.keep_frequency
        )
        return f.pairs[keep]

    def _features(self, case_or_features: Any) -> np.ndarray:
        f = self._require()
        if isinstance(case_or_features, np.ndarray):
            return case_or_features
        values = features(case_or_features)
        missing = [n for n in f.feature_names if n not in values]
        if missing:
            raise DatasetError(f"case '{case_or_features.name}' lacks features {missing[:5]} "
                               f"({len(missing)} in all) the model was trained on")  # fmt: skip
        return np.array([values[n] for n in f.feature_names])

    # ------------------------------------------------------------------------------ solve
    def solve(self, case: Any, **options: Any) -> Any:
        """The full N-1 SCED optimum of ``case`` via the reduced model and its repair;
        ``options``: SCED/dispatch options (``time_limit``, ``allow_shedding`` …);
        ``allow_shedding`` defaults to the training dataset's, so that the screened solve
        answers the problem its labels came from. ``result.info["reduction"]`` is the
        :class:`ReductionReport`."""
        f = self._require()
        options.setdefault("allow_shedding", bool(self.meta.get("allow_shedding", False)))
        spec = parse_contingencies(self.meta.get("contingencies", "auto"))
        key = network_hash(case, spec)
        if key != self.meta["network_hash"]:
            raise DatasetError(f"model trained on network {self.meta['network_hash']} of case "
                               f"'{self.meta['case']}'; case '{case.name}' has network {key}: "
                               "retrain on a dataset of this network")  # fmt: skip
        t0 = time.perf_counter()
        x = self._features(case)
        t1 = time.perf_counter()
        pairs = self.predict(x)
        t2 = time.perf_counter()
        result, report = solve_screened(case, pairs, self, spec, options)
        report.timings = {"features": t1 - t0, "inference": t2 - t1, **report.timings}
        report.timings["total"] = time.perf_counter() - t0
        report.extra |= {"learned_pairs": len(f.pairs)}
        result.info["reduction"] = report
        return result

    def evaluate(self, dataset: pd.DataFrame | str | Path, **options: Any) -> pd.DataFrame:
        """Solve every point of ``dataset`` with screening; compare with its exact objective."""
        df = _frame(dataset)
        rows = []
        for (_, row), case in zip(df.iterrows(), point_cases(df), strict=True):
            r = self.solve(case, **options)
            rep: ReductionReport = r.info["reduction"]
            ref = float(row["objective"])
            rows.append({"scenario": row["scenario"], "status": str(r.status.value),
                         "objective": r.objective, "objective_exact": ref,
                         "rel_gap": abs(r.objective - ref) / max(abs(ref), 1e-9),
                         "predicted": rep.predicted, "missed": rep.missed,
                         "added_back": rep.added_back, "rounds": rep.rounds,
                         "certified": rep.certified, "fallback": rep.fallback,
                         "time_s": rep.timings["total"]})  # fmt: skip
        return pd.DataFrame(rows)

    # ------------------------------------------------------------------------- save/load
    def save(self, path: str | Path) -> Path:
        f = self._require()
        arrays = {k.name: getattr(f, k.name) for k in dataclasses.fields(_Fitted)}
        return save_checkpoint(path, METHOD, self.config, arrays, meta=self.meta)

    @classmethod
    def load(cls, path: str | Path) -> Self:
        header, arrays = load_checkpoint(path, METHOD)
        model = cls(config_from(Config, header))
        missing = [k.name for k in dataclasses.fields(_Fitted) if k.name not in arrays]
        if missing:
            raise DatasetError(f"{path}: checkpoint lacks arrays {missing}")
        model.fitted = _Fitted(**{k.name: arrays[k.name] for k in dataclasses.fields(_Fitted)})
        meta = dict(header["meta"])
        meta.pop("dispatchlab_version", None)
        model.meta = meta
        return model

    def _require(self) -> _Fitted:
        if self.fitted is None:
            raise RuntimeError("ConstraintScreening is not fitted: call fit(dataset) or load()")
        return self.fitted


# --------------------------------------------------------------- the reduced SCED solve
def solve_screened(
    case: Any, pairs: np.ndarray, model: ConstraintScreening, spec: Any, options: dict
) -> tuple[Any, ReductionReport]:
    """Steps 3–4 of the module docstring, on the SCED machinery of
    :mod:`dispatchlab.solvers.problems.sced`: the reduced model gets the predicted rows as
    blocks ``sced_flow_limit_pred`` / ``sced_contingency_limit_pred``; ``sced._run`` then
    screens every omitted row and adds violated ones (``…_r{n}``), exactly as lazy SCED does
    from an empty start, so the result tables (LMPs, shadow prices) are SCED's own."""
    from dispatchlab.solvers.data import dispatch_data
    from dispatchlab.solvers.problems import sced
    from dispatchlab.solvers.problems.dispatch import DispatchOptions, build_dispatch

    cfg, options = model.config, dict(options)
    time_limit = options.pop("time_limit", None)
    owned = {"method", "contingencies", "k_per_round", "tol", "max_rounds", "backend"}
    if owned & set(options):
        raise ValueError(f"options {sorted(owned & set(options))} are fixed by the Config/model")
    names = {f.name for f in dataclasses.fields(sced.SCEDSettings)}
    settings = sced.SCEDSettings(method="lazy", contingencies=spec, k_per_round=cfg.k_per_round,
                                 tol=cfg.tol, max_rounds=cfg.max_rounds,
                                 **{k: v for k, v in options.items() if k in names})  # fmt: skip
    opts = DispatchOptions(network="ptdf", **{k: v for k, v in options.items() if k not in names})
    t0 = time.perf_counter()
    fac = _factors(model, case, settings, opts)
    s = sced._Setup(dispatch_data(case), opts, fac["net"], fac["rate_base"], fac["rate_ctg"],
                    fac["ctgs"], settings)  # fmt: skip
    m = build_dispatch(s.d, dataclasses.replace(opts, network="copperplate"))
    m.name = f"sced:{s.d.case_name}:screened"
    n_base, n_ctg = _add_predicted(m, s, pairs, fac)
    hm = sced.Resolver(m, cfg.backend, time_limit)
    timings = {"build": time.perf_counter() - t0, "solve": 0.0, "screen": 0.0}
    sol, scr, log = sced._run(m, hm, s, fac["chunks"], timings)
    t2 = time.perf_counter()
    result = sced._result(case, m, sol, s, scr, log | {"backend": hm.backend}, fac["chunks"])
    report = _report(log, sol.status.value == "optimal", timings, (n_base, n_ctg), fac)
    report.timings["extract"] = time.perf_counter() - t2
    if sol.status.value == "optimal" and not log["converged"]:  # max_rounds: plain lazy SCED
        from dispatchlab.solvers.api import solve

        result = solve(case, "sced", method="lazy", contingencies=spec, backend=cfg.backend,
                       time_limit=time_limit, **options)  # fmt: skip
        report.fallback, report.certified = True, bool(result.info.get("converged"))
    return result, report


def _report(log: dict, optimal: bool, timings: dict, kept: tuple, fac: dict) -> ReductionReport:
    """The report of a screened solve from ``sced._run``'s log: ``missed`` = omitted rows
    violated by the first reduced solution, ``added_back`` = rows the repair added."""
    first = log["per_round"][0] if log["per_round"] else {}
    missed_b, missed_c = first.get("base_violations", 0), first.get("contingency_violations", 0)
    return ReductionReport(
        method=METHOD, predicted=sum(kept), missed=missed_b + missed_c,
        added_back=int(log["constraints_added"]), rounds=int(log["rounds"]),
        certified=bool(log["converged"]) and optimal,
        timings={"build": timings["build"], "solve": timings["solve"],
                 "verify": timings["screen"]},
        extra={"predicted_base": kept[0], "predicted_contingency": kept[1],
               "missed_base": missed_b, "missed_contingency": missed_c,
               "full_rows": fac["full_rows"]},
    )  # fmt: skip


def _factors(model: ConstraintScreening, case: Any, settings: Any, opts: Any) -> dict:
    """Network, contingencies, LODF chunks and the learned pairs' PTDF rows / LODF columns,
    computed once per network and rating choice (they do not depend on loads or costs)."""
    from dispatchlab.solvers.network import dc_network
    from dispatchlab.solvers.problems import sced_rows as rows
    from dispatchlab.solvers.problems.sced import sced_ratings

    key = (model.meta["network_hash"], opts.rating, settings.ctg_rating, opts.line_limits)
    if key in model.network_cache:
        return model.network_cache[key]
    net = dc_network(case)
    rate_base, rate_ctg = sced_ratings(case, net, settings, opts)
    ctgs = rows.select_contingencies(case, net, settings.contingencies)
    pos = pd.Index(net.branch_ids)
    pairs = model.fitted.pairs if model.fitted is not None else np.zeros((0, 2), np.int64)
    lines, outs = pos.get_indexer(pairs[:, 0]), pos.get_indexer(pairs[:, 1])
    outs = np.where(pairs[:, 1] < 0, -1, outs)
    uk = np.unique(outs[outs >= 0])
    need = np.unique(np.concatenate([lines[lines >= 0], uk]))
    mon_c = np.isfinite(rate_ctg)
    fac = {
        "net": net, "rate_base": rate_base, "rate_ctg": rate_ctg, "ctgs": ctgs,
        "chunks": rows.LodfChunks(net, ctgs.outages, settings.chunk, settings.lodf_cache_mb),
        "ptdf": (need, rows.ptdf_block(net, need)), "outages": uk,
        "lodf": rows.lodf_block(net, uk) if len(uk) else np.zeros((net.n_branch, 0)),
        "full_rows": int(np.isfinite(rate_base).sum() + mon_c.sum() * len(ctgs)
                         - mon_c[ctgs.outages].sum()),
    }  # fmt: skip
    model.network_cache[key] = fac
    return fac


def _add_predicted(m: Any, s: Any, pairs: np.ndarray, fac: dict) -> tuple[int, int]:
    """Add the kept pairs as rows (2); pairs the model's network lacks (unmonitored line,
    outage outside the contingency set, l = k) cannot bind and are left out. Returns the
    numbers of base and contingency rows added."""
    from dispatchlab.solvers.problems.sced import BASE, CTG
    from dispatchlab.solvers.problems.sced_rows import FlowRows, add_flow_rows

    net, pos = s.net, pd.Index(s.net.branch_ids)
    li, ki = pos.get_indexer(pairs[:, 0]), pos.get_indexer(pairs[:, 1])
    base = (pairs[:, 1] < 0) & (li >= 0)
    base &= np.isfinite(s.rate_base[np.maximum(li, 0)])
    ctg = (pairs[:, 1] >= 0) & (li >= 0) & np.isin(ki, s.ctgs.outages) & (li != ki)
    ctg &= np.isfinite(s.rate_ctg[np.maximum(li, 0)])
    lb, lc, kc = li[base], li[ctg], ki[ctg]
    zero = np.zeros(len(lb), np.int64)
    if len(lb):
        rows = FlowRows(lb, zero - 1, zero.astype(float), zero, s.rate_base[lb])
        add_flow_rows(m, s.d, net, f"{BASE}_pred", rows, fac["ptdf"])
    if len(lc):
        lodf = fac["lodf"][lc, np.searchsorted(fac["outages"], kc)]
        rows = FlowRows(lc, kc, lodf, np.zeros(len(lc), np.int64), s.rate_ctg[lc])
        add_flow_rows(m, s.d, net, f"{CTG}_pred", rows, fac["ptdf"])
    return len(lb), len(lc)


def _frame(dataset: pd.DataFrame | str | Path) -> pd.DataFrame:
    """The dataset as a DataFrame, checked: columns, one network, optimal points only."""
    from dispatchlab.learning.reduce.dataset import read_dataset

    df = dataset if isinstance(dataset, pd.DataFrame) else read_dataset(dataset)
    check_columns(df)
    if len(df) == 0:
        raise DatasetError("the dataset has no rows")
    nets = sorted(set(df["network_hash"]))
    if len(nets) > 1:
        raise DatasetError(f"the dataset mixes networks {nets} (cases "
                           f"{sorted(set(df['case']))}): one model per network")  # fmt: skip
    bad = df[df["status"] != "optimal"]
    if len(bad):
        raise DatasetError(
            f"{len(bad)} points are not optimal (e.g. scenario {bad['scenario'].iloc[0]}: "
            f"{bad['status'].iloc[0]}); drop or re-solve them"
        )
    return df


def _feature_matrix(df: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    cols = [c for c in df.columns if str(c).startswith(FEATURE_PREFIX)]
    x = df[cols].to_numpy(dtype=float)
    if np.isnan(x).any():
        bad = [c for c, n in zip(cols, np.isnan(x).any(axis=0), strict=True) if n]
        raise DatasetError(f"feature columns {bad[:5]} have missing values")
    return x, [c[len(FEATURE_PREFIX) :] for c in cols]


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return float(np.log(p / (1 - p)))
