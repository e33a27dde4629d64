"""Options of the two voltage-control environments (seed001, seed002): one place to read them."""

from __future__ import annotations

from dataclasses import dataclass, field

from dispatchlab.learning.envs.voltage.costs import CostWeights


@dataclass(frozen=True)
class ProfileConfig:
    """Where episodes' load and renewable profiles come from."""

    days: tuple[str, ...] | None = None  #: dates (YYYY-MM-DD, in 2016) to draw from; None = case's
    load_profile: str | None = None  #: SimBench load profile for ``days``; None = the case's
    pv_profile: str | None = None  #: SimBench PV profile for ``days``; None = the case's
    wind_profile: str | None = None  #: SimBench wind profile for ``days``; None = the case's
    load_scale: float = 1.0  #: factor on every load (P and Q) of every day (stress sets)
    #: per day of ``days``: the feeder peak as a multiple of the nominal load Σ p_mw (the day's
    #: loads are scaled to it, after ``load_scale``); None = keep the pool's annual scale
    peak_scale: tuple[float, ...] | None = None
    load_noise: float = 0.05  #: σ of the multiplicative load noise per element and step
    renewable_noise: float = 0.10  #: σ of the multiplicative PV / wind / DG noise

    def __post_init__(self) -> None:
        for name in ("days", "peak_scale"):  # lists from a dict or the CLI: frozen tuples
            value = getattr(self, name)
            if value is not None and not isinstance(value, tuple):
                object.__setattr__(self, name, tuple(value))


@dataclass(frozen=True)
class VoltageControlConfig:
    """Options of ``voltage-control`` (every field may be passed to ``make_env``)."""

    case: str = "ieee33-seed001"  #: case name (ignored when a Case object is given)
    dt_h: float = 1.0  #: step length in hours; finer than the case's series interpolates it
    region_hops: int = 2  #: an agent observes the buses within this many branches of its own
    weights: CostWeights = field(default_factory=CostWeights)  #: seed001 Table 2 coefficients
    profiles: ProfileConfig = field(default_factory=ProfileConfig)  #: days and noise
    seed: int = 0  #: seed of the first reset when ``reset`` gets none
    tol_pu: float = 1e-9  #: power-flow mismatch tolerance (p.u.)


@dataclass(frozen=True)
class DiscreteVoltageConfig:
    """Options of ``voltage-control-discrete`` (every field may be passed to ``make_env``)."""

    case: str = "ieee33-seed002"  #: case name (ignored when a Case object is given)
    dt_h: float = 0.25  #: step length in hours (the case's series is 15 min)
    v_min_pu: float = 0.95  #: lower limit of the qualification band (the paper gives none)
    v_max_pu: float = 1.05  #: upper limit of the qualification band
    pf_min: float = 0.9  #: head power-factor limit of the perception indicator
    svg_levels: int = 13  #: SVG set-points, evenly spaced over [q_min, q_max] (0.05 Mvar)
    #: "discrete" (the SVG picks one of ``svg_levels``) or "continuous" (a Box: any Mvar in
    #: [q_min, q_max]; the oracle then optimises it per tap × capacitor position)
    svg_mode: str = "discrete"
    w_loss: float = 100.0  #: cost per p.u. of network loss
    w_dev: float = 100.0  #: cost per p.u. of mean |V − 1|
    w_viol: float = 1000.0  #: cost per p.u. of summed excursion outside the band
    observation: str = "perception"  #: "perception" (seed002's 7 states) or "continuous"
    dg_profile: str = "pv_1"  #: SimBench profile the DG availability follows ("" = constant)
    dg_p_max_mw: float | None = None  #: installed power of every DG; None = the case's
    profiles: ProfileConfig = field(default_factory=ProfileConfig)  #: days and noise
    seed: int = 0  #: seed of the first reset when ``reset`` gets none
    tol_pu: float = 1e-9  #: power-flow mismatch tolerance (p.u.)
