"""seed004 (DGCN + MASRL) against its counterparts on the test days: Tables 5–6 at any scale.

Defaults are the issue's scale (5 seeds, 1 200 training days, all 15 test days, 20 000 MARL
baseline steps, three ablations). A reduced run (the committed page):

    python benchmarks/bench_seed004_compare.py --seeds 5 --days 3 --episodes 16 \\
        --baseline-steps 1000 --ablation-seeds 2 --set demo_days=8 --set bc_steps=200 \\
        --set actor_delay=50

writes docs/benchmarks/seed004_compare.{md,csv,png} and seed004_compare_runs.json.
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
import torch

import dispatchlab as dl
from dispatchlab.learning.envs.transmission.env import TransmissionDispatchEnv
from dispatchlab.learning.methods.seed004 import graph
from dispatchlab.learning.methods.seed004.compare import (
    CompareConfig,
    compare,
    oracle_policy,
    play_day,
)
from dispatchlab.learning.methods.seed004.config import Seed004Config
from dispatchlab.learning.methods.seed004.method import TEST_DAYS, TRAIN_DAYS, Seed004Trainer
from dispatchlab.solvers.network import dc_network

OUT = Path(__file__).resolve().parents[1] / "docs" / "benchmarks"
DETERMINISTIC = ("perfect", "lookahead", "oracle", "cc-sced", "hold")
#: counterparts.py's: trained once per run (seed 0), like the deterministic ones played once
COUNTERPARTS = ("interval-opf", "deepopf", "deepopf-raw", "lstm-dispatch")
ABLATIONS = {
    "abl-physical-A": {"residual_graph": False},
    "abl-no-KL": {"kl_mask": False},
    "abl-fixed-penalties": {"adaptive_penalties": False},
}


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--first-seed", type=int, default=0, help="seeds first … first + seeds − 1")
    p.add_argument(
        "--learned-only",
        action="store_true",
        help="skip the deterministic "
        "counterparts (play them with `dispatchlab compare` and --merge the CSV)",
    )
    p.add_argument("--merge", default="", help="comma-separated output folders of runs with "
                   "other seeds: write one page from all of them into --out")  # fmt: skip
    p.add_argument("--days", type=int, default=len(TEST_DAYS), help="first N test days")
    p.add_argument("--episodes", type=int, default=1200, help="training days per seed")
    p.add_argument(
        "--baseline-steps", type=int, default=20_000, help="MAPPO / MADDPG / QMIX env steps"
    )
    p.add_argument("--ablations", default=",".join(ABLATIONS), help="comma-separated, or ''")
    p.add_argument("--ablation-seeds", type=int, default=None,
                   help="train the ablations on the first N seeds only (default: all)")  # fmt: skip
    p.add_argument("--set", action="append", default=[], help="Seed004Config NAME=VALUE")
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--note", default="", help="with --merge: replaces the page's merge note")
    extra = "only play these deterministic counterparts (e.g. cc-sced) on the page's days"
    p.add_argument("--extra", default="", help=extra)
    return p.parse_args()


def _config(args, seed: int, **extra) -> Seed004Config:
    from dispatchlab.learning.reduce.cli import config_with

    sets = config_with(Seed004Config, args.set)
    changes = {i.partition("=")[0]: getattr(sets, i.partition("=")[0]) for i in args.set}
    return Seed004Config(**{**changes, "seed": seed, "episodes": args.episodes, **extra})


def _train(cfg: Seed004Config) -> Seed004Trainer:
    trainer = Seed004Trainer(cfg)
    trainer.train_days(TRAIN_DAYS, cfg.episodes)
    return trainer


def n1_ratio(case, flows: list[np.ndarray]) -> float:
    """Share of intervals whose flows stay within rate_c under every listed branch outage
    (DC, LODF: f_l + LODF_lk f_k)."""
    net = dc_network(case)
    pos = {b: i for i, b in enumerate(net.branch_ids)}
    out = np.array([pos[b] for b in case.contingencies["element_id"]])
    lodf = net.lodf_columns(out)  # (lines, outages)
    rate_c = case.branches["rate_c_mva"].reindex(net.branch_ids).to_numpy(float)
    ok = []
    for f in flows:
        post = f[:, None] + lodf * f[out][None, :]
        post[out, np.arange(len(out))] = 0.0  # the outaged line carries nothing
        ok.append(bool(np.all(np.abs(post) <= rate_c[:, None] + 1e-6)))
    return float(np.mean(ok))


def congestion_recall(trainer, records: list[dict], k: int = 5) -> tuple[float, int]:
    """Mean recall of the oracle's binding lines among the k bus pairs whose learned weight
    rose most over A_phys, over the intervals with a binding line; and their number."""
    sys, L = trainer.sys, trainer.config.lookback
    f_bus = np.argmax(sys.incident, axis=0)
    t_bus = sys.incident.shape[0] - 1 - np.argmax(sys.incident[::-1], axis=0)
    states = np.stack([r["state"] for r in records])
    recalls = []
    for i, r in enumerate(records):
        binding = np.flatnonzero(np.abs(r["flow"]) >= sys.rate * (1 - 1e-4))
        if len(binding) == 0:
            continue
        day_start = i - i % trainer.steps
        idx = np.clip(np.arange(i - L + 1, i + 1), day_start, None)
        with torch.no_grad():
            adj = trainer.model.dgcn.adjacency(torch.as_tensor(states[idx][None]))[0].numpy()
        delta = adj - trainer.model.dgcn.a_phys.numpy()
        pairs = [(int(f_bus[b]), int(t_bus[b])) for b in binding]
        recalls.append(graph.congestion_edge_recall(delta, pairs, k))
    return (float(np.mean(recalls)) if recalls else float("nan")), len(recalls)


_ORACLE_RECORDS: dict[tuple, list] = {}


def run_seed(args, seed: int, days: list[int]) -> tuple[pd.DataFrame, dict]:
    t0 = time.perf_counter()
    trainer = _train(_config(args, seed))
    info = {"seed": seed, "train_s": time.perf_counter() - t0, **trainer.summary()}
    info.update(trainer.graph_report(days[:2]))
    first = seed == 0 and not args.learned_only  # deterministic counterparts: once
    names = ["learned", "learned-raw", "random", "mappo", "maddpg", "qmix"]
    names += [*DETERMINISTIC, *COUNTERPARTS] if first else []
    cfg = CompareConfig(policies=tuple(names), days=len(days), seed=seed,
                        baseline_steps=args.baseline_steps)  # fmt: skip
    table = compare(trainer, cfg, log=print)
    env = TransmissionDispatchEnv(case=trainer.case, split="test")
    learned_rec = []
    for d in days:
        play_day(env, trainer.policy(), d, safety=True, record=learned_rec)
    key = tuple(days)  # the oracle is deterministic: its days are played once per run
    if key not in _ORACLE_RECORDS:
        _ORACLE_RECORDS[key] = []
        for d in days:
            play_day(env, oracle_policy, d, record=_ORACLE_RECORDS[key])
    oracle_rec = _ORACLE_RECORDS[key]
    info["n1_ratio_learned"] = n1_ratio(trainer.case, [r["flow"] for r in learned_rec])
    info["n1_ratio_oracle"] = n1_ratio(trainer.case, [r["flow"] for r in oracle_rec])
    info["congestion_recall"], info["binding_intervals"] = congestion_recall(trainer, oracle_rec)
    if seed == 0:  # the N-1-constrained SCED on every 8th test interval: the ratio's reference
        case = trainer.case
        sced = [dl.solve(case.at(d * 96 + k), "sced") for d in days for k in range(0, 96, 8)]
        net_ids = dc_network(case).branch_ids
        flows = [r.branch["p_mw"].reindex(net_ids).to_numpy() for r in sced if r.optimal]
        info["n1_ratio_sced"] = n1_ratio(case, flows)
    info["decision_ms_raw"] = float(table.loc[table.policy == "learned-raw", "decision_ms"].mean())
    n_abl = args.seeds if args.ablation_seeds is None else args.ablation_seeds
    for name, change in ABLATIONS.items():
        if name not in args.ablations.split(",") or seed >= args.first_seed + n_abl:
            continue
        t1 = time.perf_counter()
        abl = _train(_config(args, seed, **change))
        info[f"train_s_{name}"] = time.perf_counter() - t1
        info[f"graph_{name}"] = abl.graph_report(days[:2])
        part = compare(abl, CompareConfig(policies=("learned", "learned-raw"), days=len(days)))
        part["policy"] = part["policy"].map({"learned": name, "learned-raw": f"{name}-raw"})
        table = pd.concat([table, part], ignore_index=True)
    return table, info


def table5(table: pd.DataFrame) -> pd.DataFrame:
    """Per policy over seeds and days: the paper's Table 5 quantities and ours."""
    g = table.groupby("policy", sort=False)
    out = pd.DataFrame({
        "cost_k_usd_per_day": g["cost_usd"].mean() / 1e3,
        "cost_std_k_usd": g["cost_usd"].std(ddof=0) / 1e3,
        "gap_to_pf_pct": g["gap_pct"].mean(),
        "curtailment_pct": g["curtailment_pct"].mean(),
        "overload_pct": g["overload_pct"].mean(),
        "unserved_mwh_per_day": g["shed_mwh"].mean(),
        "violation_steps": g["violation_steps"].sum(),
        "repairs": g["repairs"].sum(min_count=1) if "repairs" in table else np.nan,
        "fallbacks": g["fallbacks"].sum(min_count=1) if "fallbacks" in table else np.nan,
        "decision_ms": g["decision_ms"].mean(),
        "train_s": g["train_s"].mean() if "train_s" in table else np.nan,
        "seeds": g["seed"].nunique(),
        "failed_days": g["cost_usd"].apply(lambda x: int(x.isna().sum())),
    })  # fmt: skip
    return out


def _fmt(df: pd.DataFrame) -> str:
    """A markdown table (index first), numbers to 4 significant digits."""
    df = df.reset_index()
    cell = lambda v: f"{v:,.4g}" if isinstance(v, float | np.floating) else str(v)  # noqa: E731
    rows = ["| " + " | ".join(map(str, df.columns)) + " |", "|" + "---|" * len(df.columns)]
    rows += ["| " + " | ".join(cell(v) for v in r) + " |" for r in df.itertuples(index=False)]
    return "\n".join(rows)


def _ablations(t6: pd.DataFrame, args) -> list[str]:
    """Each ablation's gap against the full method on the same seeds, and why one can be 0."""
    abl = [p for p in t6.index if p.startswith("abl-") and not p.endswith("-raw")]
    if not abl:
        return []
    g = t6["gap_to_pf_pct"]
    deltas = ", ".join(f"{p[4:]} {g[p] - g['learned']:+.3f}" for p in abl)
    lines = [f"- **Ablations (Table 6, {int(t6.loc['learned', 'seeds'])} seed(s))**: gap minus "
             f"the full method's {g['learned']:.3f} %, in points: {deltas}."]  # fmt: skip
    batch = Seed004Config().parallel_days
    if "abl-fixed-penalties" in abl and args.episodes <= 2 * batch:
        lines.append(f"  The fixed-penalty ablation equals the full method by construction at "
                     f"{args.episodes} training days: the weights adapt after every batch of "
                     f"{batch} days, the replay receives a batch's days only after it has "
                     f"been played (learning from the days before), so only a third batch "
                     f"(> {2 * batch} days) would learn from rewards shaped by adapted "
                     f"weights.")  # fmt: skip
    return lines


def _claims(t5: pd.DataFrame, t6: pd.DataFrame, case_mean_mw: float, args) -> list[str]:
    """The paper's claims, with our numbers (t6: the learned rows on the ablation seeds)."""
    L, c, raw = t5.loc["learned"], t5["cost_k_usd_per_day"], t5.loc["learned-raw"]
    lines = []
    if "mappo" in t5.index:
        gnn = (
            t6.loc["abl-physical-A", "cost_k_usd_per_day"] if "abl-physical-A" in t6.index else None
        )
        rows = {"learned": c["learned"], "MAPPO": c["mappo"]}
        if gnn is not None:
            rows["GNN-RL analog (abl-physical-A: the static physical graph, Table 6’s seeds)"] = gnn
        order = " < ".join(f"{k} {v:,.1f}" for k, v in sorted(rows.items(), key=lambda x: x[1]))
        ok = list(rows) == [k for k, _ in sorted(rows.items(), key=lambda x: x[1])]
        lines.append(f"- **Tables 5–6 ordering 468.9 < MAPPO 474.6 < GNN-RL 482.7 k$/day**: ours "
                     f"{order} k$/day — {'reproduced' if ok else 'not reproduced'}. Learned < "
                     f"MAPPO holds, by a factor {c['mappo'] / c['learned']:,.0f} (MAPPO from "
                     f"learning/agents with a reduced budget and no demonstrations stays near "
                     f"random, not within 1.2 % as in the paper); the GNN analog shares our "
                     f"demonstrations and sits next to the learned row.")  # fmt: skip
    lines.append(f"- **Curtailment 4.8 %, overload 0.30 %**: ours {L['curtailment_pct']:.2f} % "
                 f"and {L['overload_pct']:.2f} % through the safety layer "
                 f"({raw['curtailment_pct']:.2f} % / {raw['overload_pct']:.2f} % raw) — lower; "
                 f"a different case and scale, not comparable in absolute terms.")  # fmt: skip
    if "abl-no-KL" in t6.index:
        a, b = (
            t6.loc["learned", "unserved_mwh_per_day"],
            t6.loc["abl-no-KL", "unserved_mwh_per_day"],
        )
        same = abs(b - a) <= max(0.1 * abs(a), 0.01)
        verdict = ("no measurable effect at this budget" if same
                   else "direction reproduced" if b > a else "not reproduced")  # fmt: skip
        lines.append(f"- **KL ablation, unserved energy 5.8 → 15.1 MWh/day**: ours "
                     f"{a:.3f} → {b:.3f} MWh/day (through the safety layer, same seeds) — "
                     f"{verdict}.")  # fmt: skip
    lines += _ablations(t6, args)
    lines.append(f"- **468.9 k$/day at 63.9 $/MWh** ⇒ {468.9e3 / 63.9:,.0f} MWh/day ⇒ "
                 f"{468.9e3 / 63.9 / 24:.0f} MW mean load, above case30's 189.2 MW peak; our "
                 f"repaired case has a {case_mean_mw:.0f} MW mean load on the test days, so only "
                 f"relative numbers (gaps, ratios, ablation directions) are compared.")  # fmt: skip
    return lines


def _targets(t5: pd.DataFrame, table: pd.DataFrame, infos: list[dict]) -> list[str]:
    """The issue's targets, met or missed, by how much."""
    L, c, raw = t5.loc["learned"], t5["cost_k_usd_per_day"], t5.loc["learned-raw"]
    gap = L["gap_to_pf_pct"]
    per_seed = table[table.policy == "learned"].groupby("seed")["gap_pct"].mean()
    lines = [f"- **Within 3 % of perfect foresight**: {gap:.2f} % through the safety layer "
             f"(seeds {per_seed.min():.2f}–{per_seed.max():.2f} %), "
             f"{raw['gap_to_pf_pct']:.2f} % raw — "
             f"{'met' if gap <= 3 else f'missed by {gap - 3:.2f} points'}."]  # fmt: skip
    if "lookahead" in t5.index:
        la = c["lookahead"]
        ratio = c["learned"] / la
        verdict = "met" if ratio <= 1 else f"missed by {100 * (ratio - 1):.2f} %"
        lines.append(f"- **≤ look-ahead ED**: {c['learned']:,.2f} vs {la:,.2f} k$/day "
                     f"({t5.loc['lookahead', 'gap_to_pf_pct']:.3f} % above perfect foresight) — "
                     f"{verdict}. The raw policy (same actions, no layer) is "
                     f"{raw['gap_to_pf_pct']:.3f} % above perfect foresight but overloads a line "
                     f"in {raw['violation_steps'] / len(table[table.policy == 'learned-raw']):.0f} "
                     f"of 96 intervals a day ({raw['overload_pct']:.2f} % of line-intervals; "
                     f"the balance completion does not look at flows); the safety layer's "
                     f"repairs of those intervals, the feasible point nearest in MW rather than "
                     f"the cheapest, are the whole difference between the two rows.")  # fmt: skip
    lines.append(f"- **0 delivered violations**: {int(L['violation_steps'])} violating intervals "
                 f"delivered through the safety layer "
                 f"({'met' if L['violation_steps'] == 0 else 'missed'}).")  # fmt: skip
    ms = np.mean([i["decision_ms_raw"] for i in infos])
    lines.append(f"- **≤ 5 ms per decision for 13 agents, DGCN included**: {ms:.2f} ms (raw "
                 f"policy with its balance completion, one CPU thread, wall time on cores "
                 f"shared with other jobs) — {'met' if ms <= 5 else 'missed here'}; with the "
                 f"safety layer {L['decision_ms']:.1f} ms (one QP per repaired "
                 f"decision).")  # fmt: skip
    per_ep = np.mean([i["train_s"] / max(i["episodes"], 1) for i in infos])
    full = per_ep * 1200 / 60
    lines.append(f"- **Training ≤ 45 min per seed**: {per_ep:.2f} s per training day here "
                 f"(wall time, the one-off demonstrations and cloning included, on 2 cores "
                 f"shared with other jobs) ⇒ ≈ {full:.0f} min for 1 200 days (extrapolated, "
                 f"not run) — {'met' if full <= 45 else 'not shown to be met'} (the "
                 f"per-day time here carries the one-off demonstrations and cloning, so the "
                 f"extrapolation overstates; the full 1 200-day run was not made).")  # fmt: skip
    return lines


def write(table: pd.DataFrame, infos: list[dict], args, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "seed004_compare.csv", index=False)
    t5 = table5(table)
    abl = [p for p in t5.index if p.startswith("abl-")]
    abl_ids = table.loc[table.policy.str.startswith("abl-"), "seed"].unique()
    own = table.policy.isin(["learned", "learned-raw"]) | table.policy.str.startswith("abl-")
    t6 = table5(table[own & table.seed.isin(abl_ids)]) if len(abl_ids) else t5.loc[[]]
    graphs = pd.DataFrame([{"seed": i["seed"], "topology_consistency": i["topology_consistency"],
                            "distance_correlation": i["distance_correlation"],
                            "congestion_edge_recall_top5": i["congestion_recall"],
                            "binding_intervals": i["binding_intervals"],
                            "n1_ratio_learned": i["n1_ratio_learned"],
                            "n1_ratio_oracle": i["n1_ratio_oracle"],
                            "n1_ratio_sced_every_8th": i.get("n1_ratio_sced", np.nan),
                            "mask_updates": i["mask_updates"],
                            "stopped_early_at": i["stopped_early_at"]} for i in infos])  # fmt: skip
    abl_graph = pd.DataFrame([{"seed": i["seed"], "variant": k[6:], **v} for i in infos
                              for k, v in i.items() if k.startswith("graph_")])  # fmt: skip
    tc = TransmissionDispatchEnv(split="test").engine
    days = sorted(table["day"].unique())
    mean_mw = float(np.mean([tc.sys.load_mw[d * 96 : (d + 1) * 96].sum(1).mean() for d in days]))
    sets = "".join(f" --set {x}" for x in args.set)
    n_abl = getattr(args, "ablation_seeds", None)
    abl_opt = f" --ablation-seeds {n_abl}" if n_abl is not None else ""
    cmd = (f"python benchmarks/bench_seed004_compare.py --seeds {args.seeds} --days {args.days} "
           f"--episodes {args.episodes} --baseline-steps {args.baseline_steps}"
           f"{abl_opt}{sets}")  # fmt: skip
    cost = ""
    if getattr(args, "wall_s", None):
        cost = (f" Wall time {args.wall_s / 60:.1f} min, CPU time {args.cpu_s / 60:.1f} min "
                f"(one process, torch 1 thread, on 2 cores shared with two other "
                f"jobs).")  # fmt: skip
    abl_seeds = f"ablations on the first {n_abl} seed(s)" if n_abl is not None else "ablations"
    md = [
        "# seed004: DGCN + MASRL against its counterparts (Tables 5–6 layout)",
        "",
        f"**Scale of this run (reduced):** {args.seeds} seed(s), {len(days)} test day(s) "
        f"(days {days[0]}–{days[-1]}), {args.episodes} training days per seed, MARL baselines "
        f"{args.baseline_steps} env steps, {abl_seeds}, config overrides {args.set or 'none'}. "
        f"Command: `{cmd}`.{cost} The issue's scale is the script's default: "
        "`python benchmarks/bench_seed004_compare.py` (5 seeds, all 15 test days, 1 200 "
        "training days, 20 000 baseline steps, three ablations). " + getattr(args, "note", ""),
        "",
        "Day cost is seed004 eq. 4 as the env scores it (fuel, reserve, carbon at 25 $/t, "
        "curtailment at 20 $/MWh, unserved energy at VOLL); the gap is to the day's "
        "perfect-foresight multi-period dispatch. `learned` = DGCN + MASRL through the "
        "transmission safety layer; `learned-raw` = the same policy without it. The policy "
        "ends with its balance completion (`balance.py`, `Seed004Config.balance_completion`, "
        "merit order by default): a deterministic step of the policy, not of the safety layer, "
        "so `learned-raw` includes it. Perfect "
        "foresight, look-ahead ED, oracle and hold are deterministic and run once (seed 0); "
        "so do the counterparts of `counterparts.py` (seed 0): interval-uncertainty OPF "
        "(robust to the wind forecast's 90 % interval), the DeepOPF MLP trained on 10 days of "
        "oracle dispatch (`deepopf` through the safety layer, `deepopf-raw` without it) and the "
        "LSTM wind forecast followed by the exact dispatch and the safety layer "
        "(`lstm-dispatch`). `qmix` is the library's QMIX on a discretized action grid "
        "(`qmix_grid.py`). `decision_ms` includes featurizing, inference, solves and repair; "
        "`violation_steps` does not count a balance mismatch ≤ 1e-3 MW (the safety layer's "
        "tolerance). "
        "`failed_days`: days a policy could not play (a MARL baseline whose training diverged "
        "to NaN actions); its means are over the other days.",
        "",
        "## Table 5 — methods",
        "",
        _fmt(t5.drop(abl)),
        "",
        "## Table 6 — ablations (same days; seeds in the `seeds` column)",
        "",
        _fmt(t6),
        "",
        "## Learned graph, congestion and N-1",
        "",
        "Topology consistency = share of the learned adjacency's off-diagonal weight on physical "
        "branches; distance correlation = Spearman ρ of the learned edge weights with the "
        "Thevenin electrical distance over all bus pairs; congestion-edge recall = share of the "
        "oracle's binding lines among the 5 bus pairs whose learned weight rose most over "
        "A_phys (a random pick scores 5/435 ≈ 1.1 %); N-1 ratio = share of delivered intervals "
        "whose DC flows stay within rate_c under every one of the 38 listed branch outages (the "
        "N-1-constrained SCED, `solve(case, 'sced')`, on every 8th test interval is the "
        "reference; neither the env, its oracle nor the learned policy enforce N-1).",
        "",
        _fmt(graphs.set_index("seed")),
        "",
        _fmt(abl_graph.set_index(["seed", "variant"])) if len(abl_graph) else "",
        "",
        "## Claims",
        "",
        *_claims(t5, t6, mean_mw, args),
        "",
        "## Targets",
        "",
        *_targets(t5, table, infos),
        "",
        "The congestion index of the scenario labels is the LMP spread max λ − min λ ($/MWh) of "
        "the interval's DC-OPF (docs/scenarios.md); the paper never defines it.",
        "",
        "![seed004](seed004_compare.png)",
    ]
    (out / "seed004_compare.md").write_text("\n".join(md) + "\n")
    runs = {"train_s": {"learned": float(np.mean([i["train_s"] for i in infos])),
                        "learned-raw": float(np.mean([i["train_s"] for i in infos]))},
            "runs": infos,
            "scale": vars(args) | {"out": str(args.out)}}  # fmt: skip
    (out / "seed004_compare_runs.json").write_text(json.dumps(runs, indent=1, default=float))
    _plot(t5, infos, out / "seed004_compare.png")


def _plot(t5: pd.DataFrame, infos: list[dict], path: Path) -> None:
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.2))
    gaps = t5["gap_to_pf_pct"].drop("perfect", errors="ignore").sort_values()
    a.barh(gaps.index, np.maximum(gaps.to_numpy(), 1e-3), color="tab:blue")
    a.set_xscale("log")
    a.set_xlabel("gap to perfect foresight, % (log)")
    a.set_title("day cost vs perfect foresight (test days)")
    for i in infos:
        curve = (
            pd.Series(i.get("train_cost_curve_usd", []), dtype=float)
            .rolling(8, min_periods=1)
            .mean()
            / 1e3
        )
        b.plot(curve.to_numpy(), label=f"seed {i['seed']}")
    b.set_yscale("log")
    b.set_xlabel("training day (episode)")
    b.set_ylabel("day cost with exploration, k$ (rolling 8)")
    b.set_title("training curve")
    b.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def add_counterparts(args) -> None:
    """Play ``args.extra`` on the days of the existing page and rewrite it with their rows."""
    table = pd.read_csv(args.out / "seed004_compare.csv")
    runs = json.loads((args.out / "seed004_compare_runs.json").read_text())
    names = tuple(args.extra.split(","))
    trainer = Seed004Trainer(Seed004Config())  # only its case and perfect foresight are used
    days = sorted(int(d) for d in table["day"].unique())
    steps = int(runs["scale"]["baseline_steps"])  # a MARL baseline (qmix): the page's budget
    cfg = CompareConfig(policies=names, days=len(days), baseline_steps=steps)
    part = compare(trainer, cfg, log=print)
    part = part[part["day"].isin(days)]
    table = pd.concat([table[~table["policy"].isin(names)], part], ignore_index=True)
    scale = {**runs["scale"], "out": args.out, "set": runs["scale"]["set"]}
    note = (f"Rows {', '.join(names)} were added to the page afterwards by "
            f"`python benchmarks/bench_seed004_compare.py --extra {','.join(names)}` (same days, "
            f"seed 0).")  # fmt: skip
    old = scale.get("note", "")
    scale["note"] = old if note in old else f"{old} {note}".strip()
    write(table, runs["runs"], argparse.Namespace(**scale), args.out)


def merge(args) -> None:
    """One page from the CSV and runs JSON of several folders (seeds run in parallel)."""
    paths = [Path(d) for d in args.merge.split(",")]
    dirs = [d for d in paths if d.is_dir()]
    csvs = [d / "seed004_compare.csv" for d in dirs] + [p for p in paths if p.suffix == ".csv"]
    table = pd.concat([pd.read_csv(p) for p in csvs], ignore_index=True)
    runs = [json.loads((d / "seed004_compare_runs.json").read_text()) for d in dirs]
    infos = sorted((i for r in runs for i in r["runs"]), key=lambda i: i["seed"])
    scale = {**runs[0]["scale"], "seeds": len(infos), "out": args.out}
    csv_parts = [p for p in paths if p.suffix == ".csv"]
    if csv_parts:
        scale["note"] = (f"Seeds ran as parallel processes (`--first-seed`, `--learned-only`) "
                         f"merged with `--merge`; the deterministic counterparts come from "
                         f"`dispatchlab compare seed004 CKPT --days {scale['days']} --policies "
                         f"{','.join(DETERMINISTIC + COUNTERPARTS)} -o det.csv`.")  # fmt: skip
    if args.note:
        scale["note"] = args.note
    write(table, infos, argparse.Namespace(**scale), args.out)


def main() -> None:
    torch.set_num_threads(1)
    args = _args()
    if args.extra:
        add_counterparts(args)
        return
    if args.merge:
        merge(args)
        return
    days = list(TEST_DAYS[: args.days])
    tables, infos = [], []
    t0, c0 = time.perf_counter(), time.process_time()
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        table, info = run_seed(args, seed, days)
        tables.append(table)
        infos.append(info)
        print(f"seed {seed} done: {info['train_s']:.0f} s training")
        args.wall_s, args.cpu_s = time.perf_counter() - t0, time.process_time() - c0
        write(pd.concat(tables, ignore_index=True), infos, args, args.out)  # after every seed


if __name__ == "__main__":
    main()
