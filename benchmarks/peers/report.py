"""Turn benchmarks/peers/results/raw.json into docs/benchmarks/peers.{csv,md,png} (main venv)."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DOCS = ROOT / "docs" / "benchmarks"
REF = "dispatchlab"


def table(raw: dict) -> pd.DataFrame:
    rows = []
    quad = {c["case"]: c["quadratic_gens"] for c in raw["cases"]}
    for r in raw["rows"]:
        variant = "chord of quadratic" if quad.get(r["case"]) else "native (linear)"
        rows.append(
            {
                "case": r["case"],
                "variant": variant,
                "tool": r["tool"],
                "status": r["status"],
                "objective": r.get("objective"),
                "load_s": r.get("load"),
                "build_s": r.get("build"),
                "solve_s": r.get("solve"),
                "extract_s": r.get("extract"),
                "total_s": r.get("total"),
                "repeats": r.get("repeats"),
                "totals_raw_s": " ".join(f"{x:.3f}" for x in r.get("totals", [])),
                "loadavg_1min": r.get("loadavg_1min"),
            }
        )
    df = pd.DataFrame(rows)
    ref = df[df.tool == REF].set_index(["case", "variant"])
    key = list(zip(df.case, df.variant, strict=True))
    ref_obj = [ref.objective.get(k, math.nan) for k in key]
    ref_tot = [ref.total_s.get(k, math.nan) for k in key]
    df["rel_diff_vs_dispatchlab"] = (df.objective - ref_obj).abs() / pd.Series(ref_obj).abs()
    df["speedup_dispatchlab_vs_tool"] = df.total_s / pd.Series(ref_tot)
    ok = df.status.str.startswith("optimal")
    df.loc[~ok, ["rel_diff_vs_dispatchlab", "speedup_dispatchlab_vs_tool"]] = math.nan
    return df


def fmt(x, spec=".3f"):
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return format(x, spec)


def plot(df: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    d = df[df.tool != "dispatchlab (from_pandapower)"]
    cases = list(dict.fromkeys(d.case))
    tools = list(dict.fromkeys(d.tool))
    fig, ax = plt.subplots(figsize=(11, 5))
    w = 0.8 / len(tools)
    for i, tool in enumerate(tools):
        t = d[d.tool == tool].set_index("case")
        vals = [
            t.total_s.get(c, np.nan) if str(t.status.get(c)).startswith("optimal") else np.nan
            for c in cases
        ]
        x = np.arange(len(cases)) + (i - (len(tools) - 1) / 2) * w
        ax.bar(x, vals, w, label=tool)
        for xi, c, v in zip(x, cases, vals, strict=True):
            if np.isnan(v) and c in t.index:
                ax.text(
                    xi, 0.03, "timeout / failed", rotation=90, ha="center", va="bottom", fontsize=7
                )
    ax.set_yscale("log")
    ax.set_xticks(np.arange(len(cases)), cases, rotation=20)
    ax.set_ylabel("build + solve + extract, s (median, log scale; parse excluded)")
    ax.set_title("DC-OPF, same data and same (linear) costs for every tool; 2 shared cores")
    ax.grid(axis="y", which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    raw = json.loads((HERE / "results" / "raw.json").read_text())
    df = table(raw)
    DOCS.mkdir(parents=True, exist_ok=True)
    df.to_csv(DOCS / "peers.csv", index=False, float_format="%.9g")
    plot(df, DOCS / "peers.png")
    lines = []
    for r in df.itertuples():
        lines.append(
            f"| {r.case} | {r.variant} | {r.tool} | {r.status} | "
            f"{fmt(r.objective, '.10g')} | {fmt(r.rel_diff_vs_dispatchlab, '.1e')} | "
            f"{fmt(r.load_s)} | {fmt(r.build_s)} | {fmt(r.solve_s)} | "
            f"{fmt(r.extract_s)} | {fmt(r.total_s)} | "
            f"{fmt(r.speedup_dispatchlab_vs_tool, '.1f')} | {fmt(r.repeats, '.0f')} |"
        )
    head = (
        "| case | costs | tool | status | objective $/h | rel. diff vs dispatchlab | "
        "load s | build s | solve s | extract s | total s | dispatchlab speed-up × | runs |\n"
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    started = dt.datetime.fromtimestamp(raw["started"], dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    vers = "\n".join(
        f"- {env}: " + ", ".join(f"{k} {v}" for k, v in pk.items())
        for env, pk in (raw.get("versions") or {}).items()
    )
    m = raw["machine"]
    (HERE / "results" / "table.md").write_text(
        f"Run started {started}; machine: {m['cpu']}, {m['cores']} cores, {m['memory']}, "
        f"{m['os']}; 1-min load average during the run "
        f"{df.loadavg_1min.min():.1f}–{df.loadavg_1min.max():.1f}.\n\n{head}\n"
        + "\n".join(lines)
        + f"\n\nVersions:\n{vers}\n"
    )
    print((HERE / "results" / "table.md").read_text())
    (DOCS / "peers.md").write_text(document(raw, df, head, lines, started, vers))


def _get(df, case, tool, col="total_s"):
    r = df[(df.case == case) & (df.tool == tool)]
    if r.empty or not str(r.status.iloc[0]).startswith("optimal"):
        return math.nan
    return float(r[col].iloc[0])


def targets(df) -> str:
    egret = "Egret B-θ + HiGHS (Pyomo appsi)"
    d, e = _get(df, "case2869_pegase", REF), _get(df, "case2869_pegase", egret)
    ratio = e / d
    if math.isnan(ratio):
        return "- targets not evaluated: case2869_pegase missing from this run"
    out = [
        f"- **case2869_pegase, dispatchlab ≥ 10× faster than Egret B-θ + HiGHS via Pyomo "
        f"(parse excluded)**: dispatchlab {fmt(d)} s vs Egret {fmt(e)} s = "
        f"{fmt(ratio, '.1f')}× → **{'met' if ratio >= 10 else 'NOT met'}**."
    ]
    for case in ("case9241pegase", "ACTIVSg10k"):
        t = _get(df, case, REF)
        out.append(
            f"- **{case} ≤ 1 s for dispatchlab** (build + solve + extract, parse "
            f"excluded): {fmt(t)} s → **{'met' if t <= 1 else 'NOT met'}**."
        )
    return "\n".join(out)


def document(raw, df, head, lines, started, vers) -> str:
    m = raw["machine"]
    cases = "\n".join(
        f"| {c['case']} | {c['source']} | {c['buses']} | {c['gens_in_service']} | "
        f"{c['branches_in_service']} | {c['quadratic_gens']} | {c['unlimited_branches']} | "
        f"{c['phase_shifters']} | {c.get('tap0_shift_set_to_1', '–')} |"
        for c in raw["cases"]
    )
    load = f"{df.loadavg_1min.min():.1f}–{df.loadavg_1min.max():.1f}"
    spread = []
    for r in raw["rows"]:
        t = r.get("totals") or []
        if len(t) >= 2 and str(r.get("status", "")).startswith("optimal"):
            spread.append((max(t) - min(t)) / sorted(t)[len(t) // 2])
    spread_txt = (
        f"the spread (max − min) / median of a tool's repeats was "
        f"{sorted(spread)[len(spread) // 2]:.0%} typically and up to {max(spread):.0%}"
        if spread
        else ""
    )
    return (
        Path(HERE / "peers_template.md")
        .read_text()
        .replace("{{STARTED}}", started)
        .replace("{{MACHINE}}", f"{m['cpu']}, {m['cores']} cores, {m['memory']} RAM, {m['os']}")
        .replace("{{LOAD}}", load)
        .replace("{{SPREAD}}", spread_txt)
        .replace("{{REPEATS}}", str(raw["repeats"]))
        .replace("{{TIMEOUT}}", f"{raw['timeout']:.0f}")
        .replace("{{TARGETS}}", targets(df))
        .replace("{{TABLE}}", head + "\n" + "\n".join(lines))
        .replace("{{CASES}}", cases)
        .replace("{{VERSIONS}}", vers)
    )


if __name__ == "__main__":
    main()
