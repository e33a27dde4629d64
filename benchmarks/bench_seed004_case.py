"""The ieee30-seed004 case measured (issue 18): load against Σ p_min, prices, congestion, N-1.

On ``--n`` seeded intervals of the 8 640 (default 600) it solves the DC-OPF (shedding off)
and the N-1 SCED over the case's contingencies (``solve(case, "sced")``; shedding off), and
reports what the case repair is about: Σ p_min against the load trough, the objective's sign,
the share of intervals with a binding line and with an LMP spread, wind curtailment, the N-1
feasible share and the seed004 label shares (congestion index = LMP spread, labels.py).
It only needs ``load_case`` and ``solve``, so it measures the old case as well:

    PYTHONPATH=. .venv/bin/python benchmarks/bench_seed004_case.py            # this tree
    PYTHONPATH=/path/to/old/checkout .venv/bin/python benchmarks/bench_seed004_case.py --n 300
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

import dispatchlab as dl

#: seed004 §4 label thresholds (as in learning/envs/transmission/labels.py)
NORMAL_RAMP, VOLATILE_RAMP, NORMAL_INDEX, CONGESTED_INDEX = 18.0, 32.9, 12.45, 13.93


def series_stats(case) -> dict:
    """Load, wind and ramp statistics of the whole series (no solve)."""
    ts = case.timeseries
    load = ts["load_p_mw"].sum(axis=1)
    ders = case.ders
    wind = ts["der_p_max_mw"][[c for c in ts["der_p_max_mw"] if ders.at[c, "kind"] == "wind"]]
    fleet = wind.sum(axis=1)
    ramp = fleet.diff(4).abs()
    p_min = float(case.gens["p_min_mw"].sum())
    corr = wind.corr().to_numpy()[np.triu_indices(wind.shape[1], 1)]
    return {
        "sum_p_min_mw": p_min,
        "load_min_mw": load.min(),
        "load_median_mw": load.median(),
        "load_max_mw": load.max(),
        "share_load_below_p_min": float((load < p_min).mean()),
        "net_load_median_mw": (load - fleet).median(),
        "wind_mean_mw": fleet.mean(),
        "wind_corr_max": float(corr.max()),
        "wind_ramp_1h_max_mw": ramp.max(),
        "wind_ramp_1h_p99_mw": ramp.quantile(0.99),
    }, ramp


def solve_sample(case, steps: np.ndarray) -> pd.DataFrame:
    """DC-OPF and N-1 SCED (shedding off) at each step."""
    wind = case.ders.index[case.ders["kind"] == "wind"]
    rows = []
    for t in steps:
        snap = case.at(int(t))
        r = dl.solve(snap, "dcopf", allow_shedding=False)
        row = {"step": int(t), "dcopf_optimal": r.optimal}
        if r.optimal:
            lmp = r.bus["lmp_usd_per_mwh"]
            shadow = r.branch["shadow_price_usd_per_mwh"].abs()
            row |= {
                "objective_usd_per_h": r.objective,
                "binding_lines": int((shadow > 1e-6).sum()),
                "lmp_spread_usd_per_mwh": float(lmp.max() - lmp.min()),
                "lmp_mean_usd_per_mwh": float(lmp.mean()),
                "curtailed_mw": float(r.der.loc[wind, "curtailed_mw"].sum()),
                "wind_avail_mw": float(r.der.loc[wind, "available_mw"].sum()),
            }
        s = dl.solve(snap, "sced", allow_shedding=False)
        row["n1_optimal"] = s.optimal
        row["n1_binding_ctg"] = bool(s.optimal and len(s.info.get("binding_contingencies", [])))
        rows.append(row)
    return pd.DataFrame(rows).set_index("step")


def labels(res: pd.DataFrame, ramp: pd.Series) -> pd.Series:
    """Exclusive seed004 label shares on the sample (precedence as in labels.py)."""
    r = ramp.iloc[res.index].to_numpy()
    idx = res["lmp_spread_usd_per_mwh"].to_numpy()
    congested, volatile = idx > CONGESTED_INDEX, r > VOLATILE_RAMP
    normal = (r <= NORMAL_RAMP) & (idx < NORMAL_INDEX)
    lab = np.select(
        [congested, volatile, normal, ~np.isnan(r)],
        ["congestion", "high_wind_volatility", "normal", "intermediate"],
        "no_ramp_history",
    )
    return pd.Series(lab).value_counts(normalize=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=600, help="sampled intervals")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    case = dl.load_case("ieee30-seed004")
    stats, ramp = series_stats(case)
    steps = np.sort(np.random.default_rng(args.seed).choice(len(ramp), args.n, replace=False))
    t0 = time.perf_counter()
    res = solve_sample(case, steps)
    ok = res[res["dcopf_optimal"]]
    stats |= {
        "sampled_intervals": args.n,
        "share_dcopf_optimal_no_shedding": res["dcopf_optimal"].mean(),
        "share_objective_positive": (ok["objective_usd_per_h"] > 0).mean(),
        "share_congested_binding_line": (ok["binding_lines"] > 0).mean(),
        "share_lmp_spread_gt_0": (ok["lmp_spread_usd_per_mwh"] > 1e-3).mean(),
        "lmp_mean_usd_per_mwh": ok["lmp_mean_usd_per_mwh"].mean(),
        "curtailment_share": ok["curtailed_mw"].sum() / ok["wind_avail_mw"].sum(),
        "share_n1_feasible_no_shedding": res["n1_optimal"].mean(),
        "share_n1_binding_contingency": res["n1_binding_ctg"].mean(),
        "solve_s": time.perf_counter() - t0,
    }
    print(f"{case.name}: {case.meta.get('source')}")
    for k, v in stats.items():
        print(f"| {k} | {v:.3f} |" if isinstance(v, float) else f"| {k} | {v} |")
    print("\nlabel shares on the sample:")
    for k, v in labels(ok, ramp).items():
        print(f"| {k} | {100 * v:.1f} % |")


if __name__ == "__main__":
    main()
