"""seed001's dispatch cost (§4.1.1, eq. 1–2) and reward (§4.2 (3)), per step, and the metrics.

The paper's objective over a horizon of T steps is ``F = C_NL + C_VOL`` with

    C_NL      = c_loss · Σ_t Σ_x P_x,t                                   (network loss)
    C_VOL     = C_vol_res + C_vol_flu − C_vol_rew
    C_vol_res = c_vol_res · Σ_t Σ_n ΔU_n,t / (U_max − U_min)            (over-limit)
    C_vol_flu = c_vol_flu · Σ_n (1/T) Σ_t (U_n,t − Ū_n)²                 (fluctuation)
    C_vol_rew = c_vol_rew · Σ_t Σ_n max(0, 1 − ((U_n,t − 1) / (½(U_max − U_min)))²)

with ΔU the distance outside [U_min, U_max] and Ū_n the mean over the horizon. The printed
equations are garbled; our readings: losses are in p.u. on the case's base MVA (10 MVA for
ieee33, which puts the paper's Table 4 "average network loss" 0.69 = c_loss·P̄ at a plausible
0.16 MW); the in-band reward is 1 at 1 p.u. and falls to 0 at the band edges, and counts only
in-band buses (the paper calls it the reward for "normal voltage").

**Online fluctuation.** Ū_n needs the whole horizon, an RL step does not have it. We charge at
step t (1-based) the Welford increment

    c_vol_flu / T · Σ_n (U_n,t − Ū_n,t−1)(U_n,t − Ū_n,t)
        = c_vol_flu / T · (t−1)/t · Σ_n (U_n,t − Ū_n,t−1)²

where Ū_n,t is the running mean of steps 1…t of the episode. It needs only the running mean,
it is 0 at t = 1, and its sum over an episode is *exactly* the paper's C_vol_flu (Welford's
identity Σ_t (x_t − m_t−1)(x_t − m_t) = Σ_t (x_t − m_T)²).

An agent's reward is ``−(C_NL,t + C_VOL,t + C^k_VOL,t)`` where ``C^k_VOL = C^k_vol_res +
C^k_vol_flu`` sums the same over-limit and fluctuation terms over the buses of the agent's
observed region k only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dispatchlab.learning.envs.voltage.pf import MatOp


@dataclass(frozen=True)
class CostWeights:
    """seed001 Table 2 coefficients and the voltage band."""

    c_loss: float = 44.0  #: per p.u. of network loss (case base MVA) per step
    c_vol_res: float = 1000.0  #: over-limit penalty, per band-width of excursion
    c_vol_flu: float = 500.0  #: fluctuation penalty around the horizon mean
    c_vol_rew: float = 5.0  #: in-band reward per bus and step
    v_min_pu: float = 0.94  #: lower voltage limit
    v_max_pu: float = 1.06  #: upper voltage limit
    v_ref_pu: float = 1.0  #: reference voltage of the reward and of the deviation metric

    def __post_init__(self) -> None:
        if not self.v_min_pu < self.v_ref_pu < self.v_max_pu:
            raise ValueError(
                f"voltage band must satisfy v_min < v_ref < v_max, got "
                f"{self.v_min_pu}, {self.v_ref_pu}, {self.v_max_pu}"
            )


def over_limit(vm: np.ndarray, w: CostWeights) -> np.ndarray:
    """ΔU (eq. C_vol_res): how far each |V| lies outside [U_min, U_max], 0 inside."""
    return np.maximum(w.v_min_pu - vm, 0.0) + np.maximum(vm - w.v_max_pu, 0.0)


def in_band_reward(vm: np.ndarray, w: CostWeights) -> np.ndarray:
    """Per-bus term of C_vol_rew: max(0, 1 − ((U − 1) / (½ (U_max − U_min)))²)."""
    x = (vm - w.v_ref_pu) / (0.5 * (w.v_max_pu - w.v_min_pu))
    return np.maximum(1.0 - x * x, 0.0)


def fluctuation(vm: np.ndarray, mean_prev: np.ndarray, t: int) -> np.ndarray:
    """Per-bus Welford increment (t−1)/t · (U_t − Ū_t−1)² of step t (1-based)."""
    d = vm - mean_prev
    return (t - 1) / t * d * d


@dataclass
class StepCosts:
    """Per-step parts, each (S,) — or (S, agents) for ``region`` — in the paper's cost units."""

    loss: np.ndarray  #: c_loss · P_loss
    res: np.ndarray  #: c_vol_res · Σ ΔU / band
    flu: np.ndarray  #: c_vol_flu / T · Σ increments
    rew: np.ndarray  #: c_vol_rew · Σ in-band terms (subtracted)
    region: np.ndarray  #: C^k_VOL of each agent's region

    @property
    def total(self) -> np.ndarray:
        """C_NL,t + C_VOL,t: the global per-step cost (what the oracle minimises)."""
        return self.loss + self.res + self.flu - self.rew

    def rewards(self) -> np.ndarray:
        """(S, agents): −(C_NL,t + C_VOL,t + C^k_VOL,t)."""
        return -(self.total[:, None] + self.region)


def step_costs(
    vm: np.ndarray,
    loss_pu: np.ndarray,
    mean_prev: np.ndarray,
    t: int,
    horizon: int,
    w: CostWeights,
    region_mask: MatOp,
) -> StepCosts:
    """The costs of step ``t`` (1-based) of a ``horizon``-step episode.

    ``vm`` (S, bus), ``loss_pu`` (S,), ``mean_prev`` (S, bus) the running mean of steps 1…t−1,
    ``region_mask`` a :class:`~.pf.MatOp` of the (bus, agents) 0/1 region matrix.
    """
    band = w.v_max_pu - w.v_min_pu
    res_bus = w.c_vol_res * over_limit(vm, w) / band
    flu_bus = w.c_vol_flu / horizon * fluctuation(vm, mean_prev, t)
    return StepCosts(
        loss=w.c_loss * loss_pu,
        res=res_bus.sum(axis=1),
        flu=flu_bus.sum(axis=1),
        rew=w.c_vol_rew * in_band_reward(vm, w).sum(axis=1),
        region=region_mask.right(res_bus + flu_bus),
    )


def voltage_metrics(vm: np.ndarray, loss_mw: np.ndarray, w: CostWeights) -> dict[str, np.ndarray]:
    """seed001 §5 metrics per scenario: loss (MW), mean |V − U_ref|, share of buses in band."""
    inside = (vm >= w.v_min_pu) & (vm <= w.v_max_pu)
    n = vm.shape[1]
    return {
        "loss_mw": loss_mw,
        "voltage_deviation_pu": np.abs(vm - w.v_ref_pu).sum(axis=1) / n,
        "compliance_rate": inside.sum(axis=1) / n,
    }
