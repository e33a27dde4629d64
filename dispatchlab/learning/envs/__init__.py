"""Dispatch environments: gymnasium / PettingZoo tasks for the five papers, with exact oracles.

``make_env(name, **options)`` builds one; ``list_envs()`` names them. Every environment module
registers an :class:`EnvSpec` in :data:`ENVS` below; modules are imported only when their
environment is made, so ``import dispatchlab`` does not pull gymnasium or PettingZoo.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import import_module
from typing import Any


@dataclass(frozen=True)
class EnvSpec:
    """What ``dispatchlab envs list`` shows and what ``make_env`` calls."""

    name: str
    paper: str  #: the seed paper(s) the task comes from, e.g. "seed000"
    api: str  #: "gymnasium" (single agent) or "pettingzoo" (parallel, multi-agent)
    case: str  #: the default case name
    description: str
    entry: str  #: "module:callable" returning the environment
    vector_entry: str | None = None  #: "module:callable" for the vectorized form
    metrics: tuple[str, ...] = field(default_factory=tuple)  #: the paper's metrics, in info


_MOD = "dispatchlab.learning.envs"

ENVS: dict[str, EnvSpec] = {
    "der-dispatch": EnvSpec(
        name="der-dispatch",
        paper="seed000",
        api="pettingzoo",
        case="ieee33-seed000",
        description=(
            "PV, storage and flexible-load aggregators on ieee33; observation = local state + "
            "the LMP at the DER's bus; reward LMP·P − SOC-band penalty; 50–5 000 units"
        ),
        entry=f"{_MOD}.der_dispatch.env:DERDispatchEnv",
        vector_entry=f"{_MOD}.der_dispatch.env:VectorDERDispatchEnv",
        metrics=(
            "reserve_cost_usd_per_h",
            "pv_integration_rate",
            "net_power_deviation_mw",
        ),
    ),
    "voltage-control": EnvSpec(
        name="voltage-control",
        paper="seed001",
        api="pettingzoo",
        case="ieee33-seed001",
        description=(
            "MT, PV, wind and SVC agents on ieee33 with continuous P/Q set-points; reward = "
            "network loss cost + voltage over-limit / fluctuation / in-band terms"
        ),
        entry=f"{_MOD}.voltage.env:VoltageControlEnv",
        vector_entry=f"{_MOD}.voltage.env:VectorVoltageControlEnv",
        metrics=("loss_mw", "voltage_deviation_pu", "compliance_rate"),
    ),
    "voltage-control-discrete": EnvSpec(
        name="voltage-control-discrete",
        paper="seed002",
        api="pettingzoo",
        case="ieee33-seed002",
        description=(
            "OLTC taps, capacitor steps and an SVG on ieee33 with DGs; discrete actions; "
            "voltage qualification rate, loss and deviation"
        ),
        entry=f"{_MOD}.voltage.discrete:DiscreteVoltageControlEnv",
        vector_entry=f"{_MOD}.voltage.discrete:VectorDiscreteVoltageControlEnv",
        metrics=("loss_mw", "voltage_deviation_pu", "compliance_rate"),
    ),
    "transmission-dispatch": EnvSpec(
        name="transmission-dispatch",
        paper="seed004",
        api="pettingzoo",
        case="ieee30-seed004",
        description=(
            "6 thermal units, 3 wind plants, storage and load-serving entities on ieee30 at "
            "15 min; ramps, reserves and line limits"
        ),
        entry=f"{_MOD}.transmission.env:TransmissionDispatchEnv",
        vector_entry=f"{_MOD}.transmission.env:VectorTransmissionDispatchEnv",
        metrics=(
            "cost_usd",
            "curtailment_rate",
            "load_shedding_rate",
            "overload_rate",
            "ramp_violation_rate",
            "carbon_intensity_t_per_mwh",
        ),
    ),
    "der-selection": EnvSpec(
        name="der-selection",
        paper="seed003",
        api="pettingzoo",
        case="ieee123-seed003",
        description=(
            "ieee123 with a 100 kW DER at every bus and random load centroids; one agent per "
            "microgrid picks its DERs; the chosen ones balance the centroids' deviation from "
            "the full LP's base schedule (1-minute market; market='dispatch': they carry all)"
        ),
        entry=f"{_MOD}.der_selection.env:DERSelectionEnv",
        vector_entry=f"{_MOD}.der_selection.vector:VectorDERSelectionEnv",
        metrics=("cost_usd", "loss_mw", "selected_ders"),
    ),
}


def list_envs() -> list[str]:
    """The names ``make_env`` accepts."""
    return sorted(ENVS)


def env_spec(name: str) -> EnvSpec:
    """The spec of one environment; a clear error names the known ones."""
    try:
        return ENVS[name]
    except KeyError:
        raise KeyError(f"unknown environment '{name}'; known: {', '.join(list_envs())}") from None


def _resolve(entry: str) -> Any:
    module, attr = entry.split(":")
    return getattr(import_module(module), attr)


def make_env(name: str, *, num_envs: int | None = None, **options: Any) -> Any:
    """Build environment ``name``; with ``num_envs``, its vectorized form over that many."""
    spec = env_spec(name)
    if num_envs is None:
        return _resolve(spec.entry)(**options)
    if spec.vector_entry is None:
        raise ValueError(f"environment '{name}' has no vectorized form")
    return _resolve(spec.vector_entry)(num_envs=num_envs, **options)


__all__ = ["ENVS", "EnvSpec", "env_spec", "list_envs", "make_env"]
