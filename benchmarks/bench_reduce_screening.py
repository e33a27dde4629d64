"""Learned constraint screening vs lazy constraint generation vs the full N-1 SCED, per hour.

Two studies, each trained and tested on disjoint operating points, all timed in one run:

* ``activsg2000``: ACTIVSg2000 with its contingency table (branch outages), p_min relaxed to 0
  (with its must-run units the N-1 problem is infeasible; see benchmarks/bench_sced.py).
  Trained on hours sampled from January–September 2016, tested on hours from
  October–December. The full formulation has 8.8 M dense rows (≈ 328 GB of triplets) and is
  not built: its size is reported instead;
* ``case118``: pglib case118 with every non-radial outage, loads perturbed (system factor
  U(0.85, 1.15) × per-load 1 + 0.05·N(0, 1)): the full formulation fits, so all three are timed.

All methods of a study use the same solver: Clarabel on ACTIVSg2000 (quadratic costs; HiGHS'
active-set QP stalls on some hours, e.g. hour 4187 runs past 60 s), HiGHS on case118. The
screened time per hour is end to end: features, inference, model build, reduced solve, the
PTDF/LODF check of every omitted row and any repair re-solve. The network factors (LODF
columns, PTDF rows of learned pairs) are computed on a warm-up solve of a training point and
reused (the topology is fixed); that one-off time is reported apart. Counts are CLI options
(defaults 40 training and 15 + 10 test points, chosen to finish in ≈ 20 min on this
shared 2-core machine).

    .venv/bin/python benchmarks/bench_reduce_screening.py    # docs/benchmarks/reduce_screening.*
    .venv/bin/python benchmarks/bench_reduce_screening.py --train 20 --test 5 --out /tmp/rs
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd

from dispatchlab.learning.reduce.dataset import (
    DatasetConfig,
    base_case,
    build_sced_dataset,
    point_cases,
    sample_hours,
)
from dispatchlab.learning.reduce.screening import Config, ConstraintScreening
from dispatchlab.solvers.api import solve
from dispatchlab.solvers.problems.sced import full_model_size

ROOT = Path(__file__).parents[1]
FULL_NNZ_LIMIT = 5e7  # as bench_sced.py: above this the full model is not built


def studies(a: argparse.Namespace) -> list[dict]:
    act = base_case("activsg2000", True, 1.0)
    rng = np.random.default_rng(a.seed)
    pert = [{"load_scale": float(f), "load_noise": 0.05} for f in rng.uniform(0.85, 1.15, 400)]
    return [
        {"name": "activsg2000", "case": "activsg2000", "contingencies": "case",
         "backend": "clarabel",
         "dataset": DatasetConfig(p_min_zero=True, backend="clarabel", workers=a.workers,
                                  seed=a.seed),
         "train": [{"hour": h} for h in sample_hours(act, range(1, 10), a.train, a.seed)],
         "test": [{"hour": h} for h in sample_hours(act, range(10, 13), a.test, a.seed)]},
        {"name": "case118", "case": "pglib/case118_ieee", "contingencies": "all",
         "backend": "highs", "dataset": DatasetConfig(workers=a.workers, seed=a.seed),
         "train": pert[: a.train], "test": pert[a.train : a.train + a.test_118]},
    ]  # fmt: skip


def run_study(st: dict, a: argparse.Namespace) -> tuple[pd.DataFrame, dict]:
    """Dataset → fit → per test point: full (if it fits), lazy, screened."""
    t = time.perf_counter()
    data = a.data / st["name"]
    train = build_sced_dataset(st["case"], st["train"], st["contingencies"], st["dataset"],
                               data / "train.parquet")  # fmt: skip
    test = build_sced_dataset(st["case"], st["test"], st["contingencies"], st["dataset"],
                              data / "test.parquet")  # fmt: skip
    dataset_s = time.perf_counter() - t
    t = time.perf_counter()
    model = ConstraintScreening(Config(backend=st["backend"], seed=a.seed)).fit(train)
    fit_s = time.perf_counter() - t
    t = time.perf_counter()
    model.solve(point_cases(train.iloc[:1])[0])  # network factors, once per topology
    warm_s = time.perf_counter() - t
    cases = point_cases(test)
    size = full_model_size(
        cases[0], st["contingencies"], allow_shedding=st["dataset"].allow_shedding
    )
    rows = []
    for (_, point), case in zip(test.iterrows(), cases, strict=True):
        rows += _one(st, point, case, model, size["nnz_upper"] <= FULL_NNZ_LIMIT)
        print(rows[-1], flush=True)
    meta = {"dataset_s": dataset_s, "fit_s": fit_s, "warmup_s": warm_s, "size": size,
            "n_train": len(train), "n_test": len(test), "pairs": len(model.fitted.pairs),
            "train_binding_mean": float(train["n_binding"].mean())}  # fmt: skip
    return pd.DataFrame(rows), meta


def _one(st: dict, point: pd.Series, case, model: ConstraintScreening, full: bool) -> list[dict]:
    out = []
    base = {"study": st["name"], "scenario": point["scenario"], "hour": point.get("hour")}
    methods = (["full"] if full else []) + ["lazy"]
    for method in methods:
        t = time.perf_counter()
        r = solve(case, "sced", method=method, contingencies=st["contingencies"],
                  backend=st["backend"],
                  allow_shedding=st["dataset"].allow_shedding)  # as the screened solve  # fmt: skip
        out.append(base | {"method": method, "time_s": time.perf_counter() - t,
                           "objective": r.objective, "status": str(r.status.value),
                           "rows": r.info["flow_rows"], "repairs": 0, "missed": 0,
                           "rounds": r.info["rounds"], "solve_s": r.timings["solve"],
                           "verify_s": r.timings["screen"]})  # fmt: skip
    t = time.perf_counter()
    r = model.solve(case)
    rep = r.info["reduction"]
    out.append(base | {"method": "screened", "time_s": time.perf_counter() - t,
                       "objective": r.objective, "status": str(r.status.value),
                       "rows": rep.predicted + rep.added_back, "repairs": rep.added_back,
                       "missed": rep.missed, "rounds": rep.rounds, "certified": rep.certified,
                       "verify_s": rep.timings["verify"],
                       "solve_s": rep.timings["solve"]})  # fmt: skip
    ref = out[0]["objective"]
    for row in out:
        row["rel_gap"] = abs(row["objective"] - ref) / abs(ref)
    return out


def summary(df: pd.DataFrame) -> pd.DataFrame:
    """Per study and method: time mean/p50/p99/max, worst gap, hours repaired, rows."""
    g = df.groupby(["study", "method"], sort=False)
    out = g["time_s"].agg(mean="mean", p50="median", p99=lambda s: s.quantile(0.99), max="max")
    out["max_rel_gap"] = g["rel_gap"].max()
    out["hours"] = g.size()
    out["hours_repaired"] = g["repairs"].apply(lambda s: int((s > 0).sum()))
    out["rows_mean"] = g["rows"].mean()
    out["solve_s_mean"] = g["solve_s"].mean()
    out["check_s_mean"] = g["verify_s"].mean()
    return out.reset_index()


def plot(df: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(df["study"]))
    fig, axes = plt.subplots(2, len(names), figsize=(6 * len(names), 7), squeeze=False)
    for j, name in enumerate(names):
        d = df[df["study"] == name]
        for method, g in d.groupby("method", sort=False):
            axes[0, j].plot(np.arange(len(g)), g["time_s"], "o-", label=method, ms=3)
        axes[0, j].set(yscale="log", title=f"{name}: time per test point",
                       ylabel="wall time (s)")  # fmt: skip
        axes[0, j].legend()
        s = d[d["method"] == "screened"]
        axes[1, j].bar(np.arange(len(s)), s["repairs"], color="tab:red")
        axes[1, j].set(title=f"{name}: rows added back by the repair", xlabel="test point",
                       ylabel="rows")  # fmt: skip
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def markdown(df: pd.DataFrame, metas: dict, a: argparse.Namespace) -> str:
    s = summary(df)
    lines = ["# Learned constraint screening for N-1 SCED", "",
             "Generated by `benchmarks/bench_reduce_screening.py` (do not edit by hand); "
             "see docs/reduce.md for the method and how to read this page. Times are wall "
             "clock per test point on a shared 2-CPU machine (noisy); within a study all "
             "methods use the same solver (Clarabel on ACTIVSg2000, HiGHS on case118).",
             "", _table(s), "", "## Ratios (same run, mean time per point)", ""]  # fmt: skip
    for name, d in s.groupby("study", sort=False):
        t = d.set_index("method")["mean"]
        for other in ("full", "lazy"):
            if other in t:
                ratio = t[other] / t["screened"]
                lines.append(f"* {name}: screened is {ratio:.1f}× faster than {other} "
                             f"({t[other]:.3f} s vs {t['screened']:.3f} s).")  # fmt: skip
        sc = df[(df["study"] == name) & (df["method"] == "screened")]
        lines.append(f"* {name}: {int((sc['rel_gap'] <= 1e-6).sum())} of {len(sc)} test points "
                     f"end at the exact optimum (rel. gap ≤ 1e-6; worst {sc['rel_gap'].max():.1e});"
                     f" {int((sc['repairs'] > 0).sum())} needed a repair "
                     f"({int(sc['repairs'].sum())} rows added back in all).")  # fmt: skip
    lines += ["", "*solve_s_mean*: time inside the QP/LP solver (all rounds); *check_s_mean*: "
              "the PTDF/LODF check of every row (lazy: every round, computing the LODF "
              "columns again on each call; screened: after each reduced solve, with the "
              "LODF columns kept from the one-off network factors below).", "",
              "## Set-up per study", ""]  # fmt: skip
    for name, m in metas.items():
        sz = m["size"]
        lines.append(f"* {name}: {m['n_train']} training / {m['n_test']} test points; "
                     f"{m['pairs']} learned (line, outage) pairs (mean binding set "
                     f"{m['train_binding_mean']:.1f} rows); full model {sz['rows']:,} rows, "
                     f"≤ {sz['nnz_upper']:,} nonzeros "
                     f"({'built' if sz['nnz_upper'] <= FULL_NNZ_LIMIT else 'not built'}); "
                     f"datasets {m['dataset_s']:.0f} s (sweep, {a.workers} workers), fit "
                     f"{m['fit_s']:.2f} s, one-off network factors "
                     f"{m['warmup_s']:.2f} s.")  # fmt: skip
    lines += ["", "![time per point and repairs](reduce_screening.png)", "",
              f"Machine: {platform.machine()}, {os.cpu_count()} CPU(s), load average "
              f"{os.getloadavg()[0]:.1f} at the end; Python {platform.python_version()}, "
              f"{time.strftime('%Y-%m-%d')}; seed {a.seed}."]  # fmt: skip
    return "\n".join(lines) + "\n"


def _table(df: pd.DataFrame) -> str:
    def fmt(v):
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    head = "| " + " | ".join(df.columns) + " |"
    body = ["| " + " | ".join(fmt(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, "|" + "---|" * len(df.columns), *body])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks")
    p.add_argument("--data", type=Path, default=Path("/tmp/dispatchlab-reduce-screening"))
    p.add_argument("--train", type=int, default=40, help="training points per study")
    p.add_argument("--test", type=int, default=15, help="ACTIVSg2000 test hours (Oct–Dec)")
    p.add_argument("--test-118", type=int, default=10, help="case118 test points (full: ~15 s)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--only", choices=["activsg2000", "case118"], default=None)
    a = p.parse_args()
    frames, metas = [], {}
    for st in studies(a):
        if a.only in (None, st["name"]):
            df, metas[st["name"]] = run_study(st, a)
            frames.append(df)
    df = pd.concat(frames, ignore_index=True)
    a.out.mkdir(parents=True, exist_ok=True)
    df.to_csv(a.out / "reduce_screening.csv", index=False)
    plot(df, a.out / "reduce_screening.png")
    (a.out / "reduce_screening.md").write_text(markdown(df, metas, a))
    print(summary(df).to_string())


if __name__ == "__main__":
    main()
