"""The Result of a solve: status, objective, timings and tables mirroring the inputs."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from dispatchlab.solvers.status import Status

SHED_TOL_MW = 1e-6  #: shed below this is solver noise, not shedding


@dataclass
class Result:
    """What ``dispatchlab.solve`` returns.

    Tables share the Case's ids (MultiIndex ``(id, period)`` for multi-period problems) and use
    unit-suffixed columns: ``gen`` (``p_mw``, reserves, cost), ``bus`` (``lmp_usd_per_mwh`` and
    its ``energy``/``congestion``/``loss`` components, ``load_mw``, ``shed_mw``), ``branch``
    (``p_mw``, ``loading_pct``, ``shadow_price_usd_per_mwh``), ``der`` (``p_mw``,
    ``curtailed_mw``), ``storage`` (charge, discharge, ``soc_mwh``).
    """

    status: Status
    objective: float
    problem: str
    case_name: str
    timings: dict[str, float] = field(default_factory=dict)  # build / solve / extract, s
    gen: pd.DataFrame = field(default_factory=pd.DataFrame)
    bus: pd.DataFrame = field(default_factory=pd.DataFrame)
    branch: pd.DataFrame = field(default_factory=pd.DataFrame)
    der: pd.DataFrame = field(default_factory=pd.DataFrame)
    storage: pd.DataFrame = field(default_factory=pd.DataFrame)
    system: pd.DataFrame = field(default_factory=pd.DataFrame)  # per period: price, shed …
    diagnosis: pd.DataFrame | None = None  # slack needed, when infeasible
    info: dict = field(default_factory=dict)  # iterations, rounds, added constraints …

    @property
    def optimal(self) -> bool:
        return self.status is Status.OPTIMAL

    @property
    def shed_mw(self) -> float:
        return float(self.bus["shed_mw"].sum()) if "shed_mw" in self.bus else 0.0

    def summary(self) -> dict:
        out = {
            "problem": self.problem,
            "case": self.case_name,
            "status": str(self.status),
            "objective": self.objective,
            **{f"{k}_s": v for k, v in self.timings.items()},
        }
        if self.optimal and "lmp_usd_per_mwh" in self.bus:
            out["lmp_min_usd_per_mwh"] = float(self.bus["lmp_usd_per_mwh"].min())
            out["lmp_max_usd_per_mwh"] = float(self.bus["lmp_usd_per_mwh"].max())
            out["shed_mw"] = self.shed_mw
        if self.optimal and self.shed_mw > SHED_TOL_MW:
            # shedding is only ever asked for (allow_shedding=True); say it where it is seen
            out["shedding"] = f"{self.shed_mw:,.6g} MW of load shed at VOLL (allow_shedding=True)"
        if self.optimal and "shadow_price_usd_per_mwh" in self.branch:
            # base-case rows; SCED's binding post-contingency rows are counted apart below
            out["binding_branches"] = int(
                (self.branch["shadow_price_usd_per_mwh"].abs() > 1e-6).sum()
            )
        contingency = self.info.get("binding_contingencies")
        if self.optimal and isinstance(contingency, pd.DataFrame):
            out["binding_contingency_rows"] = len(contingency)
        out.update({k: v for k, v in self.info.items() if isinstance(v, int | float | str)})
        return out

    def __repr__(self) -> str:
        timings = {k: round(v, 4) for k, v in self.timings.items()}
        shed = self.shed_mw if self.optimal else 0.0
        note = f", shed_mw={shed:,.6g}" if shed > SHED_TOL_MW else ""
        return (
            f"Result({self.problem} on {self.case_name}: {self.status}, "
            f"objective={self.objective:,.6g}{note}, timings={timings})"
        )
