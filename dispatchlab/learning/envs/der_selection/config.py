"""Options of the DER-selection environment (seed003): one dataclass."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

MARKETS = ("balancing", "dispatch")


@dataclass(frozen=True)
class DERSelectionConfig:
    """Options of the DER-selection environment (seed003)."""

    case: str = "ieee123-seed003"  #: a feeder case with dispatchable DERs (kind dg)
    k: int = 3  #: DERs each microgrid agent selects (seed003 §V: 3)
    n_zones: int = 6  #: microgrids (seed003 Fig. 3: 6 on IEEE 123)
    centroid_share: float = 0.3  #: share of load buses that become load centroids
    centroid_factor: float = 1.5  #: a centroid's load as a multiple of its bus load
    substation_export: bool = False  #: allow p0 < 0 (DERs selling to the grid at λ0)
    iterations: int = 2  #: linearization passes of the LP (as solve(..., "dlmp"))
    cost_scale_usd_per_h: float = 100.0  #: reward counts cost in units of this many $/h
    penalty_infeasible: float = 10.0  #: reward lost by a selection the LP cannot dispatch
    #: "balancing" (seed003 §IV): the full LP over all DERs sets a base schedule for the static
    #: loads; each step the selected DERs (and the substation) balance the centroids'
    #: real-time deviation, every other DER stays at its base. "dispatch": the selected DERs
    #: carry the whole load, the others are off (the first version of the env)
    market: str = "balancing"
    #: {branch_id: MW} flow limits on tie lines (branches between two zones); a branch that
    #: is not a tie is an error naming it
    tie_limits_mw: Mapping[int, float] | None = None
    #: seed003 §V-C congestion: limit the paper's tie "120–36" (line 135–35 here) to
    #: ``tie_limit_share`` × its unconstrained peak flow over the case's day
    congestion: bool = False
    tie_limit_share: float = 740.0 / 755.0  #: the paper's 755 → 740 kW, ≈ 0.98

    def __post_init__(self):
        if self.k < 1 or self.n_zones < 1:
            raise ValueError(f"k and n_zones must be ≥ 1, got k={self.k}, n={self.n_zones}")
        if not 0.0 <= self.centroid_share <= 1.0:
            raise ValueError(f"centroid_share must be in [0, 1], got {self.centroid_share}")
        if not self.centroid_factor >= 0.0:
            raise ValueError(f"centroid_factor must be >= 0, got {self.centroid_factor}")
        if self.market not in MARKETS:
            raise ValueError(f"market must be one of {MARKETS}, got {self.market!r}")
        if not 0.0 < self.tie_limit_share <= 1.0:
            raise ValueError(f"tie_limit_share must be in (0, 1], got {self.tie_limit_share}")
