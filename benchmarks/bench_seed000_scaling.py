"""seed000 scaling study: decision time and bytes per cycle, 50 → 5 000 DER units.

For each size N (units split from ieee33-seed000's DERs as the der-dispatch env splits them):

* learned, batched: one Dueling-DQN forward pass per DER type over all its units (the three
  type networks, torch.inference_mode, 2 threads), median of ``--reps`` calls, and per unit;
* learned, one controller: the forward pass of a single unit (what each edge controller runs
  on its own hardware, seed000 eq. 6), median;
* regional agent: one price-GCN forward pass (once per 5-min broadcast, independent of N);
* exact, persistent: the centralized single-period LP with all N DERs (``DispatchModel``,
  dcopf on the feeder, HiGHS warm re-solve after a load update), median of re-solves;
* exact, cold: the same LP built and solved from scratch (``dispatchlab.solve``), the closest
  reading of the paper's "centralized optimization" timing;
* exact, env oracle: the der-dispatch oracle (MILP of the env's own reward with the
  network rows and AC check, :mod:`dispatchlab.learning.envs.der_dispatch.oracle`) at the
  first step of a day, when the environment is importable;
* bytes per 15-s cycle of both architectures (:mod:`dispatchlab.learning.methods.seed000.comm`,
  binary and JSON).

Weights are untrained unless ``--checkpoint`` names a seed000 checkpoint (a forward pass costs
the same either way). Writes docs/benchmarks/seed000_scaling.{csv,png}.

    .venv/bin/python benchmarks/bench_seed000_scaling.py --reps 200
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from dispatchlab import load_case, solve
from dispatchlab.learning.agents.dqn import DuelingDQNConfig, SharedDuelingDQN
from dispatchlab.learning.agents.gcn import normalized_adjacency
from dispatchlab.learning.envs.der_dispatch.units import KINDS, build_units
from dispatchlab.learning.methods.seed000.comm import cycle_bytes
from dispatchlab.learning.methods.seed000.price_data import N_FEATURES
from dispatchlab.learning.methods.seed000.price_gcn import PriceGCN
from dispatchlab.solvers.persistent import DispatchModel

SIZES = (50, 100, 200, 300, 500, 1000, 5000)
OBS_DIM = 8
DOCS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks"


def median_time(fn, reps: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def learned_times(n: int, policy: SharedDuelingDQN, kinds: np.ndarray, reps: int) -> dict:
    rng = np.random.default_rng(n)
    obs = rng.normal(size=(n, OBS_DIM)).astype(np.float32)
    groups = {k: np.flatnonzero(kinds == k) for k in np.unique(kinds)}

    def batched():
        out = np.empty(n, np.int64)
        for k, idx in groups.items():
            out[idx] = policy.act(KINDS[k], obs[idx])
        return out

    one = obs[:1]
    kind0 = KINDS[int(kinds[0])]
    return {
        "learned_batched_ms": 1e3 * median_time(batched, reps),
        "learned_one_unit_ms": 1e3 * median_time(lambda: policy.act(kind0, one), reps),
    }


def exact_times(case, n: int, reps: int) -> dict:
    units = build_units(case, n, (0.1, 0.9))
    snap = case.at(60).with_ders(units.table, replace=True)
    t0 = time.perf_counter()
    dm = DispatchModel(snap, "dcopf")
    build = time.perf_counter() - t0
    loads = snap.loads["p_mw"].to_numpy(float)
    rng = np.random.default_rng(0)

    def resolve():
        dm.set_loads(loads * rng.uniform(0.95, 1.05, len(loads)))
        sol = dm.solve_raw()
        if sol.status.name != "OPTIMAL":
            raise RuntimeError(f"exact LP with {n} DERs: {sol.status}")

    cold = median_time(lambda: solve(snap, "dcopf"), max(3, reps // 20))
    return {
        "exact_persistent_ms": 1e3 * median_time(resolve, max(10, reps // 5)),
        "exact_build_ms": 1e3 * build,
        "exact_cold_ms": 1e3 * cold,
        "lp_columns": dm.model.n_cols,
        "lp_rows": dm.model.n_rows,
    }


def oracle_time(n: int, reps: int) -> float:
    """Median time of the der-dispatch env's oracle at the first step (NaN if unavailable)."""
    try:
        from dispatchlab.learning.envs.der_dispatch.env import DERDispatchEnv
    except ImportError:
        return float("nan")
    env = DERDispatchEnv(n_units=n, seed=0)
    env.reset(seed=0)
    return 1e3 * median_time(env.oracle, max(2, min(reps // 50, 5)))


def gcn_time(case, reps: int) -> float:
    net = PriceGCN(normalized_adjacency(case), N_FEATURES, 32, 128).eval()
    x = torch.randn(1, len(case.buses), N_FEATURES)

    def fwd():
        with torch.inference_mode():
            net(x)

    return 1e3 * median_time(fwd, reps)


def run(sizes, reps: int, checkpoint: str | None) -> pd.DataFrame:
    torch.set_num_threads(2)
    case = load_case("ieee33-seed000")
    policy = SharedDuelingDQN(
        dict.fromkeys(KINDS, 5), OBS_DIM, DuelingDQNConfig(), np.random.default_rng(0)
    )
    if checkpoint:
        from dispatchlab.learning.methods.seed000.method import load_method

        policy = load_method(checkpoint).dqn
    gcn_ms = gcn_time(case, reps)
    rows = []
    for n in sizes:
        units = build_units(case, n, (0.1, 0.9))
        row = {"n_units": n, **learned_times(n, policy, units.kind, reps)}
        row["learned_per_unit_us"] = 1e3 * row["learned_batched_ms"] / n
        row["gcn_forward_ms"] = gcn_ms
        row.update(exact_times(case, n, reps))
        row["env_oracle_ms"] = oracle_time(n, reps)
        for fmt in ("binary", "json"):
            b = cycle_bytes(n, len(case.buses), fmt)
            row[f"hierarchical_{fmt}_kb"] = b.hierarchical / 1e3
            row[f"centralized_{fmt}_kb"] = b.centralized / 1e3
        rows.append(row)
        print({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}, flush=True)
    return pd.DataFrame(rows)


def plot(df: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for col, label in (
        ("learned_batched_ms", "learned, batched (all units)"),
        ("learned_one_unit_ms", "learned, one controller"),
        ("exact_persistent_ms", "exact LP, persistent"),
        ("exact_cold_ms", "exact LP, build + solve"),
        ("env_oracle_ms", "env oracle (MILP + AC check)"),
    ):
        if df[col].notna().any():
            ax1.loglog(df["n_units"], df[col], "o-", label=label)
    ax1.set_xlabel("DER units")
    ax1.set_ylabel("decision time (ms, median)")
    ax1.legend(fontsize=8)
    ax1.grid(True, which="both", alpha=0.3)
    for col, label in (
        ("hierarchical_binary_kb", "hierarchical (binary)"),
        ("centralized_binary_kb", "centralized (binary)"),
        ("hierarchical_json_kb", "hierarchical (JSON)"),
        ("centralized_json_kb", "centralized (JSON)"),
    ):
        ax2.loglog(df["n_units"], df[col], "o-", label=label)
    ax2.set_xlabel("DER units")
    ax2.set_ylabel("kB per 15-s cycle")
    ax2.legend(fontsize=8)
    ax2.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--out", type=Path, default=DOCS)
    args = ap.parse_args()
    df = run(args.sizes, args.reps, args.checkpoint)
    args.out.mkdir(parents=True, exist_ok=True)
    df.to_csv(args.out / "seed000_scaling.csv", index=False, float_format="%.6g")
    plot(df, args.out / "seed000_scaling.png")
    print(df.to_string(index=False))


if __name__ == "__main__":
    main()
