"""seed003 (MCTS-RL + DDMM + MLFACC + certified DRL-LP) against its counterparts on IEEE 123.

Run: ``python benchmarks/bench_seed003_compare.py [--seeds 5] [--minutes 1440]
[--cases normal,dynamic,congestion] [--episodes 3000]`` (the defaults are issue 15's full
scale). For each training seed s the partition and the actors are trained with
:class:`Seed003Config` (``episodes``), then every policy (MLFACC, the loss-adjusted ranking of
eq. 9, random k, the oracle's top k, the full LP) plays the same minutes of day s (its centroid
draw; training used days ≥ 10 000) in each case, every selection certified and repaired to the
full LP's optimum by ``drl_lp``. Also measured: the full LP through cvxpy against the HiGHS
path (issue 15: time both on one path), the AC check of ``solve(case, "drl_lp")`` on a sample
of minutes, MCTS-RL against the env's Ward zoning, and the paper's DER51 under congestion.
Results: docs/benchmarks/seed003_compare.md / .csv / .png and seed003_compare_runs.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from dispatchlab import solve
from dispatchlab.learning.envs.der_selection.lp import microgrid_zones
from dispatchlab.learning.methods.seed003.compare import CompareConfig, compare, summarize
from dispatchlab.learning.methods.seed003.config import Seed003Config
from dispatchlab.learning.methods.seed003.method import bus_load_mw, train
from dispatchlab.learning.methods.seed003.partition import feeder_tree, partition_quality
from dispatchlab.solvers.problems.drl_lp import drl_lp

OUT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks"
PAPER_TRAIN_H = 84.0  #: seed003 §V: 84 h for 10 000 games
PAPER_CONVERGED = 5900  #: seed003 §V: the agents converge after ~5 900 episodes


def converged_episode(curve: list[float], batch: int) -> int:
    """First episode after which the 25-batch moving mean stays within 5 % of its final level
    (a plain reading of "converged", applied to our curve as to the paper's)."""
    c = pd.Series(curve).rolling(25, min_periods=1).mean().to_numpy()
    final, band = c[-1], 0.05 * abs(c[-1])
    outside = np.flatnonzero(np.abs(c - final) > band)
    return int((outside[-1] + 1 if len(outside) else 0) * batch)


def side_checks(method, kind: str, day: int, minutes: list[int]) -> list[dict]:
    """cvxpy vs HiGHS full-LP time and the AC check of the MLFACC selection (drl_lp)."""
    task = method.task(kind=kind)
    env, rows = task.env, []
    for t in minutes:
        task.reset(day, t)
        env.reset(options={"centroids": task.centroids.tolist(), "minute": t})
        picks, _ = method.select(task)
        ids = env.der_ids[np.sort(picks.ravel())]
        opts = {"iterations": 1, "flow_limits_mw": env.tie_limits_mw}
        t0 = time.perf_counter()
        solve(env.scenario, "dlmp", backend="cvxpy", **opts)
        t1 = time.perf_counter()
        full = solve(env.scenario, "dlmp", **opts)
        t2 = time.perf_counter()
        res = solve(env.scenario, "drl_lp", selected=ids, omitted="setpoint", **opts)
        ac, corr = res.info["ac_check"], res.info["ac_corrections"]
        if corr["n_corrections"]:  # DRL-LP against the full LP on the AC-corrected limits
            lims = {**env.tie_limits_mw, **corr["corrected_flow_limits_mw"]}
            full = solve(env.scenario, "dlmp", iterations=1, flow_limits_mw=lims)
        rows.append(
            {
                "case": kind,
                "minute": t,
                "cvxpy_full_ms": 1e3 * (t1 - t0),
                "highs_full_ms": 1e3 * (t2 - t1),
                "drl_lp_gap": (res.objective - full.objective) / abs(full.objective),
                "ac_voltage_violation_pu": ac["voltage_violation_pu"],
                "ac_flow_violation_mw": ac["flow_violation_mw"],
                "ac_corrections": corr["n_corrections"],
                "ac_vm_min_pu": ac["vm_min_pu"],
            }
        )
    return rows


def der51_day(method, minutes: np.ndarray, day: int) -> pd.DataFrame:
    """The full LP's output of the DER at bus 51 over the day, congestion case (the paper's
    "DER51 keeps generating when the centroid drops")."""
    task = method.task(kind="congestion")
    m = task.base
    pos = int(np.flatnonzero(m.net.bus_ids[m.der_bus] == 51)[0])
    rows = []
    for t in minutes:
        task.reset(day, int(t))
        out = drl_lp(task.model, task.lin, np.arange(len(m.der_ids)), base_mw=task.base_mw,
                     iterations=1)  # fmt: skip
        rows.append({"minute": int(t), "der51_p_mw": out.sol["p_der"][pos],
                     "deviation_mw": float(task.model.demand.sum() - m.demand.sum())})  # fmt: skip
    return pd.DataFrame(rows)


def partition_table(method) -> pd.DataFrame:
    """MCTS-RL against the env's Ward zoning on the same quality numbers."""
    env = method.task().env
    case, cfg = env.case, method.config
    tree = feeder_tree(case, 1.5 * bus_load_mw(case), cfg.min_zone_buses)
    ward = microgrid_zones(case, cfg.n_zones, max(cfg.k, case.n_buses // (3 * cfg.n_zones)))
    rows = {"MCTS-RL": partition_quality(tree, method.labels, cfg)}
    rows["Ward (env)"] = partition_quality(tree, ward, cfg)
    return pd.DataFrame(rows).T


def plot(table: pd.DataFrame, der51: pd.DataFrame, path: Path) -> None:
    fig, ax = plt.subplots(2, 2, figsize=(12, 8))
    full = table[table["policy"] == "full"]
    for kind, g in full.groupby("case"):
        g = g.groupby("minute").mean(numeric_only=True)
        ax[0, 0].plot(g.index / 60, g["full_cost_usd_per_h"], label=kind)
        ax[0, 1].plot(g.index / 60, g["full_dlmp_max_usd_per_mwh"], label=f"{kind} max")
        ax[0, 1].plot(g.index / 60, g["full_dlmp_min_usd_per_mwh"], ls=":", label=f"{kind} min")
    ax[0, 0].set(xlabel="hour", ylabel="certified cost, $/h", title="cost over the day")
    ax[0, 1].set(xlabel="hour", ylabel="DLMP, $/MWh", title="DLMP range over the day")
    ax[0, 0].legend(fontsize=7)
    ax[0, 1].legend(fontsize=6)
    for policy, g in table[table["policy"] != "full"].groupby("policy"):
        gap = np.sort(np.clip(100 * g["gap_before_cert"].to_numpy(), 1e-6, None))
        ax[1, 0].step(gap, np.arange(1, len(gap) + 1) / len(gap), label=policy)
    ax[1, 0].set(xscale="log", xlabel="gap before certification, % (clipped at 1e-6)",
                 ylabel="share of minutes", title="gap CDF")  # fmt: skip
    ax[1, 0].legend(fontsize=7)
    times = table.groupby("policy")[["decision_ms", "lp_ms"]].mean()
    times.plot.bar(stacked=True, ax=ax[1, 1], rot=0)
    ax[1, 1].set(ylabel="ms per interval", title="end-to-end time per interval")
    if len(der51):
        twin = ax[0, 0].twinx()
        twin.plot(der51["minute"] / 60, der51["der51_p_mw"], color="k", lw=0.8, label="DER51")
        twin.set_ylabel("DER51 (congestion), MW")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def pipe(frame: pd.DataFrame) -> list[str]:
    """A markdown pipe table, 4 significant digits."""
    cols = [str(c) for c in frame.columns]
    lines = ["| | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for idx, row in frame.iterrows():
        cells = [f"{v:.4g}" if isinstance(v, float | np.floating) else str(v) for v in row]
        lines.append(f"| {idx} | " + " | ".join(cells) + " |")
    return lines


def speed(ms: float, full_ms: float) -> str:
    """Faster / slower than the full LP, or a tie within 10 % (timings on a shared host)."""
    if abs(ms - full_ms) < 0.1 * full_ms:
        return "a tie with the full LP (within 10 % on a shared host)"
    return "faster than the full LP" if ms < full_ms else "slower than the full LP"


def verdicts(table: pd.DataFrame, runs: list, der51: pd.DataFrame) -> list[str]:
    """One line per paper claim of issue 15, from the measured numbers."""
    by = table.groupby("policy")
    e2e, lp = by["end_to_end_ms"].mean(), by["lp_ms"].mean()
    ml = table[table["policy"] == "mlfacc"]
    train_s = float(np.mean([r["train_s"] for r in runs]))
    conv = int(np.median([r["converged_episode"] for r in runs]))
    cong = table[(table["case"] == "congestion") & (table["policy"] == "full")]
    out = [
        f'- **"≈ 5 s per real-time minute"** — refuted as a need: the full LP over all 129 '
        f"DERs takes {e2e['full']:.0f} ms per minute here (HiGHS, build included) and MLFACC "
        f"end to end (features, actors, DRL-LP, certificate, repair) {e2e['mlfacc']:.0f} ms.",
        f'- **"84 h, 10 000 games; converged after ~5 900 episodes"** — we train '
        f"{runs[0]['episodes']} episodes in {train_s:.0f} s per seed on 2 shared cores "
        f"({train_s / 3600 / PAPER_TRAIN_H:.2%} of 84 h; target ≤ 30 min: "
        f"{'met' if train_s <= 1800 else 'missed'}); our batch-mean reward curve (25-batch "
        f"moving mean) stays within 5 % of its end after {conv} episodes (median over seeds; "
        "the curve is the reward of random scenario minutes, so this is a loose reading), "
        "against the paper's 5 900. Held out, MLFACC certifies "
        f"{ml['certified_first'].mean():.0%} of the minutes without repair, the eq. 9 ranking "
        f"{table.loc[table['policy'] == 'lf-rank', 'certified_first'].mean():.0%}.",
        f'- **"Fewer variables accelerate the LP"** — for the LP alone '
        f"{'confirmed' if lp['mlfacc'] < lp['full'] else 'refuted'}: the selection removes "
        f"{ml['variables_removed'].mean():.0f} of the LP's "
        f"{ml['variables_removed'].mean() + ml['lp_variables'].mean():.0f} columns, and the "
        f"certified DRL-LP over it takes {lp['mlfacc']:.1f} ms against {lp['full']:.1f} ms for "
        f"the full LP on the same path (`drl_lp`, build included: the certificate builds the "
        f"full LP's columns). End to end, with MLFACC's features and forward pass, "
        f"{e2e['mlfacc']:.1f} ms: {speed(e2e['mlfacc'], e2e['full'])}; the eq. 9 ranking "
        f"{e2e['lf-rank']:.1f} ms: {speed(e2e['lf-rank'], e2e['full'])}. "
        f"Shipped without the certificate, MLFACC's selection would have cost "
        f"{100 * ml['gap_before_cert'].mean():.3g} % more on average (p99 "
        f"{100 * ml['gap_before_cert'].quantile(0.99):.3g} %, max "
        f"{100 * ml['gap_before_cert'].max():.3g} %); {100 * ml['certified_first'].mean():.0f} "
        f"% of its minutes certify without repair (target ≥ 90 %).",
    ]
    return out + price_verdicts(cong, der51)


def price_verdicts(cong: pd.DataFrame, der51: pd.DataFrame) -> list[str]:
    """The DLMP and DER51 claims (congestion case)."""
    out = []
    if len(cong):
        lo, hi = cong["full_dlmp_min_usd_per_mwh"].min(), cong["full_dlmp_max_usd_per_mwh"].max()
        c_lo = cong["full_dlmp_congestion_min_usd_per_mwh"].min()
        c_hi = cong["full_dlmp_congestion_max_usd_per_mwh"].max()
        part = cong[
            ["full_dlmp_congestion_min_usd_per_mwh", "full_dlmp_congestion_max_usd_per_mwh"]
        ]
        bind = float((part.abs().max(axis=1) > 1e-6).mean())
        out.append(
            f"- **DLMPs 7.58 ¢ and −125.62 ¢ (units unclear)** — under congestion our DLMPs span "
            f"{lo / 10:.2f} … {hi / 10:.2f} ¢/kWh with a congestion part of {c_lo / 10:.2f} … "
            f"{c_hi / 10:.2f} ¢/kWh; "
            + (f"a congestion part appears in {bind:.0%} of the minutes; the paper reports "
               "a negative one, −125.62," if bind > 0 else
               "no congestion price appears in the minutes played: the tie limit does not bind")
            + " and its numbers cannot be matched without its units and data."
        )  # fmt: skip
    if len(der51):
        low = der51["deviation_mw"] <= der51["deviation_mw"].quantile(0.25)
        on = (der51.loc[low, "der51_p_mw"] > 1e-6).mean()
        out.append(
            f'- **"DER51 keeps generating when the centroid drops"** — in the quarter of '
            f"minutes with the smallest centroid load, our DER at bus 51 runs in {on:.0%} of "
            f"them (mean {der51.loc[low, 'der51_p_mw'].mean():.3f} MW; "
            f"{der51['der51_p_mw'].mean():.3f} MW over the day)."
        )
    return out


def targets(table, runs, side, parts) -> list[str]:
    """Met / missed for each target of the issue, with the number behind it."""
    ml = table[table["policy"] == "mlfacc"]
    e2e = table.groupby("policy")["end_to_end_ms"].mean()
    at_opt = float((ml["gap_after_cert"].abs() <= 1e-6).mean())
    cert = float(ml["certified_first"].mean())
    train_max = max(r["train_s"] for r in runs)
    cover = float(parts.loc["MCTS-RL", "capacity_over_peak_min"]) if parts is not None else np.nan
    ac_v = float(side["ac_voltage_violation_pu"].max()) if len(side) else np.nan
    ac_f = float(side["ac_flow_violation_mw"].max()) if len(side) else np.nan
    n_corr = (  # side checks saved before drl_lp corrected limits by AC have no such column
        f"{int(side['ac_corrections'].max())} correction round(s) at most in the side checks"
        if "ac_corrections" in side and len(side)
        else "side checks run before that correction"
    )

    def mark(ok: bool) -> str:
        return "met" if ok else "**missed**"

    return [
        f"- 100 % of intervals at the full optimum after certification: {mark(at_opt == 1)} "
        f"({at_opt:.1%} of MLFACC's minutes, every policy likewise).",
        f"- ≥ 90 % certified without repair: {mark(cert >= 0.9)} ({cert:.1%} for MLFACC; the "
        f"eq. 9 ranking {table[table['policy'] == 'lf-rank']['certified_first'].mean():.1%}, "
        "the oracle's top k ~100 %: the full LP often moves more than k DERs in a zone).",
        "- end-to-end time ≤ the full LP's on the same backend: "
        f"{mark(e2e['mlfacc'] <= e2e['full'])} for MLFACC ({e2e['mlfacc']:.1f} vs "
        f"{e2e['full']:.1f} ms, {speed(e2e['mlfacc'], e2e['full'])}), "
        f"{mark(e2e['lf-rank'] <= e2e['full'])} for the eq. 9 ranking ({e2e['lf-rank']:.1f} ms).",
        f"- every zone's DER capacity ≥ its peak load: {mark(cover >= 1)} (smallest ratio "
        f"{cover:.3f}, peak = every bus at the centroid factor 1.5).",
        f"- 0 voltage or tie violations in the AC check: voltage {mark(ac_v <= 1e-6)} "
        f"({ac_v:.3g} p.u.), flow {mark(ac_f <= 1e-5)} ({1e3 * ac_f:.2g} kW at most over a "
        "limit; `drl_lp` tightens a limit the AC flow exceeds by the AC − linear mismatch and "
        f"re-solves: {n_corr}).",
        f"- training ≤ 30 min per seed on 2 cores: {mark(train_max <= 1800)} "
        f"({train_max:.0f} s at most).",
    ]


def side_table(side: pd.DataFrame) -> pd.DataFrame:
    g = side.drop(columns="minute").groupby("case")
    times = g[["cvxpy_full_ms", "highs_full_ms"]].mean()
    cols = ["drl_lp_gap", "ac_voltage_violation_pu", "ac_flow_violation_mw", "ac_corrections"]
    worst = g[[c for c in cols if c in side]].max()  # ac_corrections: absent in older runs
    return times.join(worst).join(g[["ac_vm_min_pu"]].min())


def write_page(path, a, table, runs, side, der51, parts) -> None:
    """The benchmark page: scale, summary per case, checks, partition, verdicts."""
    n_min = table.groupby(["train_seed", "case", "day"])["minute"].nunique().max()
    lines = [
        "# seed003 against its counterparts (IEEE 123, balancing market)",
        "",
        f"**Scale of this run: {a.seeds} training seed(s) × {len(set(table['case']))} case(s)"
        f" × {n_min} minute(s) of the day (evenly spread) × 5 policies, {a.episodes} A2C "
        "episodes per seed**, on 2 shared CPU cores. The full scale of issue 15 (5 seeds × "
        "1 440 minutes × 3 cases, 3 000 episodes) is the script's default: "
        "`python benchmarks/bench_seed003_compare.py`.",
        "",
        "Every policy's selection goes through the same certified DRL-LP (`drl_lp`: the LP over "
        "the selected DERs' moves from the base schedule, the reduced-cost certificate against "
        "the full LP at the same linearization, DERs added back until certified), so every row "
        "ends at the full optimum; the columns say what the selection alone would have shipped "
        "and what the certificate cost. Times are per 1-minute interval: `lp_ms` = DRL-LP build"
        " + solves + certificate + repair, `end_to_end_ms` adds features and selection "
        "(`oracle-topk` needs the full LP's solution to select: that solve is not charged to "
        "it, it is a bound, not a method). `merged_ties_mean`: ties DDMM holds merged.",
        "",
        "![cost, DLMP, gap CDF and time](seed003_compare.png)",
        "",
    ]
    for kind, g in table.groupby("case", sort=False):
        lines += [f"## Case `{kind}`", "", *pipe(summarize(g).T.round(6)), ""]
    lines += ["## Targets of issue 15", "", *targets(table, runs, side, parts), ""]
    lines += ["## Paper claims", "", *verdicts(table, runs, der51), ""]
    if parts is not None:
        lines += ["## Partition quality (seed 0): MCTS-RL against the env's Ward zoning", ""]
        lines += [*pipe(parts), ""]
    if len(side):
        lines += [
            f"## Side checks (seed 0, {side['minute'].nunique()} minutes per case)",
            "",
            '`cvxpy_full_ms` / `highs_full_ms`: mean time of `solve(scenario, "dlmp")` through'
            " cvxpy and through the HiGHS LinearModel path (model build included). The rest is "
            'the worst over the minutes: `drl_lp_gap`, `solve(scenario, "drl_lp", selected='
            "MLFACC's picks)` against the full LP (certified: 0; on the AC-corrected limits where "
            "`ac_corrections` > 0); `ac_*`, its dispatch through pandapower's AC power flow "
            "(flow violations against the original MW limits).",
            "",
            *pipe(side_table(side)),
            "",
        ]
    drop = ["partition", "curve"]
    lines += ["## Training", "", *pipe(pd.DataFrame(runs).drop(columns=drop)), ""]
    path.write_text("\n".join(lines) + "\n")


def rewrite_page(a) -> None:
    """The page and plot again from the saved CSV / JSON (no training, no solving)."""
    table = pd.read_csv(OUT / "seed003_compare.csv")
    runs = json.loads((OUT / "seed003_compare_runs.json").read_text())
    extra = json.loads((OUT / "seed003_compare_extra.json").read_text())
    scale = argparse.Namespace(**extra["scale"])
    der51 = pd.DataFrame(extra["der51"])
    parts = pd.DataFrame(extra["partition"]).T if extra["partition"] else None
    plot(table, der51, OUT / "seed003_compare.png")
    write_page(OUT / "seed003_compare.md", scale, table, runs, pd.DataFrame(extra["side"]),
               der51, parts)  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--minutes", type=int, default=1440)
    p.add_argument("--cases", default="normal,dynamic,congestion")
    p.add_argument("--episodes", type=int, default=Seed003Config.episodes)
    p.add_argument("--side-minutes", type=int, default=6, help="minutes for cvxpy/AC checks")
    p.add_argument("--page-only", action="store_true", help="rewrite the page from saved output")
    a = p.parse_args()
    if a.page_only:
        return rewrite_page(a)
    cases = [c.strip() for c in a.cases.split(",") if c.strip()]
    frames, runs, side, der51, parts = [], [], [], pd.DataFrame(), None
    for seed in range(a.seeds):
        method = train(Seed003Config(seed=seed, episodes=a.episodes))
        m = method.metrics
        curve = m["train_reward_curve"]
        runs.append({"seed": seed, "train_s": m["train_s"], "mcts_s": m["mcts_s"],
                     "episodes": a.episodes, "converged_episode": converged_episode(
                         curve, method.config.batch), "partition": m["partition"],
                     "curve": curve})  # fmt: skip
        for kind in cases:
            cfg = CompareConfig(minutes=a.minutes, days=(seed,))
            table = compare(method, cfg, method.task(kind=kind))
            frames.append(table.assign(train_seed=seed))
        if seed == 0:
            parts = partition_table(method)
            sample = np.linspace(0, 1440, a.side_minutes, endpoint=False).astype(int).tolist()
            for kind in cases:
                side += side_checks(method, kind, 0, sample)
            if "congestion" in cases:
                grid = np.linspace(0, 1440, min(a.minutes, 288), endpoint=False).astype(int)
                der51 = der51_day(method, grid, 0)
    table = pd.concat(frames, ignore_index=True)
    OUT.mkdir(parents=True, exist_ok=True)
    table.to_csv(OUT / "seed003_compare.csv", index=False)
    extra = {"scale": vars(a), "side": side, "der51": der51.to_dict("records"),
             "partition": parts.to_dict("index") if parts is not None else None}  # fmt: skip
    (OUT / "seed003_compare_runs.json").write_text(json.dumps(runs, indent=1, default=float))
    (OUT / "seed003_compare_extra.json").write_text(json.dumps(extra, indent=1, default=float))
    plot(table, der51, OUT / "seed003_compare.png")
    write_page(OUT / "seed003_compare.md", a, table, runs, pd.DataFrame(side), der51, parts)
    print(summarize(table).T.to_string())


if __name__ == "__main__":
    with threadpool_limits(1):
        main()
