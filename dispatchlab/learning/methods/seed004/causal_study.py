"""seed004's causal claims checked: the estimated effect of each intervention (g-computation on
the observed exact dispatch) against the simulated one (the same test days re-solved under the
intervention), with the placebo, leave-one-covariate-out and robustness value of each.

    >>> table = causal_study(load_case("ieee30-seed004"), CausalStudyConfig.quick())
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from dispatchlab.learning.methods.seed004.causal import (
    Contrast,
    adjustment_set,
    g_computation,
    leave_one_covariate_out,
    placebo,
    robustness_value,
)
from dispatchlab.learning.methods.seed004.causal_data import (
    INTERVENTIONS,
    check_intervention,
    dispatch_table,
    simulate_effect,
)

__all__ = ["OUTCOMES", "PAPER", "CausalStudyConfig", "causal_study", "contrast_for"]

#: outcomes of every intervention (columns of :func:`.causal_data.dispatch_table`)
OUTCOMES = ("cost_usd_per_mwh", "curtailment_pct", "congestion")

#: seed004 Table 4 / §4.4: (intervention, outcome) -> reported ATE
PAPER = {
    ("wind", "cost_usd_per_mwh"): -7.7,
    ("wind", "congestion"): -0.07,
    ("load", "cost_usd_per_mwh"): 6.4,
    ("lines", "curtailment_pct"): 1.9,
}


@dataclass(frozen=True)
class CausalStudyConfig:
    """Which days are observed, which are re-simulated, how many resamples."""

    observed_days: tuple[int, ...] = tuple(range(90))  #: days whose exact dispatch is the data
    test_days: tuple[int, ...] = tuple(range(75, 90))  #: days averaged over and re-simulated
    interventions: tuple[str, ...] = tuple(INTERVENTIONS)  #: which of wind, load, lines
    n_boot: int = 200  #: bootstrap resamples (estimated and simulated CIs)
    n_placebo: int = 20  #: diurnal-block permutations
    seed: int = 0  #: bootstrap and placebo RNG

    def __post_init__(self) -> None:
        for name in self.interventions:
            check_intervention(name)
        missing = sorted(set(self.test_days) - set(self.observed_days))
        if missing:
            raise ValueError(f"test days {missing} are not among the observed days")
        if len(self.test_days) < 2:
            raise ValueError(f"need ≥ 2 test days, got {len(self.test_days)}")
        if self.n_boot < 1:
            raise ValueError(f"n_boot (bootstrap resamples) must be ≥ 1, got {self.n_boot}")

    @classmethod
    def quick(cls, **changes) -> CausalStudyConfig:
        """A reduced run: every 3rd day observed, 5 test days, 50 resamples."""
        base = dict(
            observed_days=tuple(range(0, 90, 3)),
            test_days=(75, 78, 81, 84, 87),
            n_boot=50,
            n_placebo=10,
        )
        return cls(**{**base, **changes})


def contrast_for(name: str, data: pd.DataFrame) -> Contrast:
    """The g-computation contrast that mirrors intervention ``name`` (module docstring of
    :mod:`.causal_data`): wind p90 vs p50 of ``data``; load × 1.1; line stress ÷ 0.9 (a
    rating × 0.9 raises every loading by 1/0.9 at the same flows)."""
    check_intervention(name)
    if name == "wind":
        p50, p90 = np.percentile(data["wind_mw"], [50, 90])
        return Contrast(
            "wind_mw",
            lambda t: np.full_like(t, p90),
            lambda t: np.full_like(t, p50),
            f"do(wind = {p90:.1f} MW, p90) − do(wind = {p50:.1f} MW, p50)",
        )
    if name == "load":
        return Contrast("load_mw", lambda t: 1.1 * t, lambda t: t, "do(load × 1.1) − observed")
    return Contrast(
        "line_stress_pct", lambda t: t / 0.9, lambda t: t, "do(line stress ÷ 0.9) − observed"
    )


def _simulated(diff: pd.DataFrame, outcome: str, n_boot: int, seed: int) -> tuple:
    per_day = diff.groupby("day")[outcome].mean().to_numpy()
    rng = np.random.default_rng(seed)
    boots = [rng.choice(per_day, len(per_day)).mean() for _ in range(n_boot)]
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return float(diff[outcome].mean()), float(lo), float(hi)


def _row(name, outcome, data, units, contrast, cfg, diff) -> dict:
    covs = adjustment_set(contrast.treatment)
    est = g_computation(
        data, contrast, outcome, covs, units=units, n_boot=cfg.n_boot, seed=cfg.seed
    )
    fake = placebo(data, contrast, outcome, covs, units=units, n_perm=cfg.n_placebo, seed=cfg.seed)
    loco = leave_one_covariate_out(data, contrast, outcome, covs, units=units)
    rv = robustness_value(data, contrast.treatment, outcome, covs)
    sim, sim_lo, sim_hi = _simulated(diff, outcome, cfg.n_boot, cfg.seed)
    return {
        "intervention": name,
        "outcome": outcome,
        "contrast": contrast.label,
        "adjusted_for": ",".join(covs),
        "ate_est": est.ate,
        "ate_est_lo": est.lo,
        "ate_est_hi": est.hi,
        "ate_sim": sim,
        "ate_sim_lo": sim_lo,
        "ate_sim_hi": sim_hi,
        "est_in_sim_ci": sim_lo <= est.ate <= sim_hi,
        "cis_overlap": est.lo <= sim_hi and sim_lo <= est.hi,
        "placebo": fake.ate,
        "placebo_lo": fake.lo,
        "placebo_hi": fake.hi,
        "loco_min": min(loco.values()),
        "loco_max": max(loco.values()),
        "loco_drop": ",".join(f"{k}:{v:.3g}" for k, v in loco.items()),
        "robustness_value": rv["robustness_value"],
        "paper": PAPER.get((name, outcome), np.nan),
    }


def causal_study(
    case, config: CausalStudyConfig | None = None, *, progress: Callable | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(effects, observed): one row per (intervention, outcome) with the estimated and
    simulated ATE and their CIs, the placebo, LOCO range and robustness value; and the
    observed per-interval table the estimates were fitted on."""
    cfg = config or CausalStudyConfig()
    say = progress or (lambda text: None)
    say(f"exact dispatch of {len(cfg.observed_days)} observed days")
    data = dispatch_table(case, cfg.observed_days)
    units = data[data["day"].isin(cfg.test_days)]
    rows = []
    for name in cfg.interventions:
        contrast = contrast_for(name, data)
        say(f"re-simulating {len(cfg.test_days)} test days under {INTERVENTIONS[name]}")
        levels = None
        if name == "wind":
            levels = tuple(np.percentile(data["wind_mw"], [50, 90]))
        diff = simulate_effect(case, cfg.test_days, name, wind_levels=levels)
        for outcome in OUTCOMES:
            rows.append(_row(name, outcome, data, units, contrast, cfg, diff))
    return pd.DataFrame(rows), data
