"""Options of the transmission-dispatch environment (seed004), weights per eq. 4."""

from __future__ import annotations

from dataclasses import dataclass

SPLITS = ("train", "validation", "test", "all")


@dataclass(frozen=True)
class TransmissionConfig:
    """Options of the transmission-dispatch environment (seed004); weights per eq. 4."""

    case: str = "ieee30-seed004"  #: case name (needs loads + wind series at a fixed step)
    split: str = "train"  #: train / validation / test days (chronological) or all
    split_days: tuple[int, int, int] = (60, 15, 15)  #: days per split, seed004 §3.1
    carbon_price_usd_per_t: float = 25.0  #: C_co2 price (not in the paper; chosen)
    curtailment_price_usd_per_mwh: float = 20.0  #: C_curt price per spilled MWh (chosen)
    cost_scale_usd: float = 1000.0  #: reward counts cost in units of this many $
    penalty_line_overload: float = 18.0  #: per MW over rating (seed004 §4.2: 18)
    penalty_reserve_shortfall: float = 10.0  #: per MW of reserve short (seed004 §4.2: 10)
    penalty_ramp: float = 10.0  #: per MW beyond a ramp limit (chosen)
    penalty_balance: float = 10.0  #: per MW of schedule mismatch the slack absorbed (chosen)
    penalty_soc: float = 10.0  #: per MWh of storage request outside its SOC band (chosen)
    penalty_slack_capacity: float = 10.0  #: per MW of surplus nothing could absorb (chosen)
    forecast_sigma: float = 0.1  #: wind forecast error std, fraction of capacity
    forecast_seed: int = 4  #: seed of the (fixed) wind forecast errors

    def __post_init__(self):
        if self.split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {self.split!r}")
        if any(d < 0 for d in self.split_days):
            raise ValueError(f"split_days must be ≥ 0, got {self.split_days}")
        if self.cost_scale_usd <= 0:
            raise ValueError(f"cost_scale_usd must be > 0, got {self.cost_scale_usd}")

    def penalties(self) -> dict[str, float]:
        """Violation name -> weight of seed004 eq. 4's C_viol."""
        return {
            "line_overload_mw": self.penalty_line_overload,
            "ramp_mw": self.penalty_ramp,
            "reserve_shortfall_mw": self.penalty_reserve_shortfall,
            "balance_mw": self.penalty_balance,
            "soc_mwh": self.penalty_soc,
            "slack_capacity_mw": self.penalty_slack_capacity,
        }
