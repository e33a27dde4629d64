"""The protocol every safety layer follows: verify → repair → fall back, and count every outcome.

A safety layer sits between a learned policy and one environment instance. It is built on the
environment (``layer = DERDispatchSafetyLayer(env)``) and sees its current state; for every
decision, :meth:`SafetyLayer.filter` takes the actions the policy proposes, in the environment's
own action format, and returns the actions to apply and what happened:

1. **verify** (:meth:`SafetyLayer.verify`) — the violation magnitude per family (p.u., MW, MVA,
   MWh; 0 = within the limit) the environment would report if ``actions`` were applied from the
   current state, computed by the same physics the environment steps with (its power flow, its
   energy update). A proposal whose total is ≤ :data:`TOL` is delivered unchanged ("ok").
2. **clip** (:meth:`SafetyLayer.clip_to_box`, optional) — when the proposal only leaves the
   device box and the environment's own projection onto that box is feasible, that projection
   (what the environment would apply anyway); counted as "clip", apart from repairs, so a
   policy that merely asks for more than is available is not reported as repaired. A layer
   without a ``clip_to_box`` goes straight to the repair.
3. **repair** (:meth:`SafetyLayer.repair`) — a feasible action near the proposal, by the exact
   solver of that family (the smallest change by the family's measure), or ``None`` when the
   solver finds none. The repaired action is verified again by :meth:`verify` here, never
   trusted ("repair").
4. **fall back** (:meth:`SafetyLayer.fallback`) — the exact oracle's action for the current state
   (``env.oracle()``), also verified ("fallback"). A fallback that still violates a limit is
   delivered as the best available and counted as "fallback-failed" and in
   ``SafetyStats.delivered_violations``: never hidden.

A family implements ``verify`` and ``repair`` (and ``fallback`` if ``env.oracle().action`` is not
the right action format); :meth:`SafetyLayer.filter` and :class:`SafetyStats` are shared, so every
layer is counted the same way. :data:`~dispatchlab.learning.safety.SAFETY_LAYERS` maps an
environment name to its layer; ``dispatchlab evaluate ENV --safety`` and each method's
``compare`` build layers through :func:`~dispatchlab.learning.safety.make_safety_layer`.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

TOL = 1e-6  #: total violation magnitude accepted as zero (p.u., MW, MVA, MWh)

Outcome = Literal["ok", "clip", "repair", "fallback", "fallback-failed"]


@dataclass
class SafetyStats:
    """Counts over all decisions filtered so far."""

    decisions: int = 0
    passed: int = 0  #: the proposal was feasible as it was
    clipped: int = 0  #: outside the device box only; the env's own box projection applied
    repaired: int = 0  #: fixed by the repair
    fallbacks: int = 0  #: replaced by the exact dispatch (whether or not that was feasible)
    fallback_failed: int = 0  #: of ``fallbacks``, those whose oracle action still violated
    delivered_violations: int = 0  #: decisions delivered with a violation left
    repair_s: float = 0.0  #: time spent verifying and repairing
    history: list = field(default_factory=list)  #: per decision: its :data:`Outcome`

    def as_dict(self) -> dict:
        """The counts (without the per-decision history)."""
        return {k: v for k, v in self.__dict__.items() if k != "history"}

    @property
    def repaired_share(self) -> float:
        """Share of decisions the layer changed (clips + repairs + fallbacks), 0 when none
        were made."""
        changed = self.clipped + self.repaired + self.fallbacks
        return changed / self.decisions if self.decisions else 0.0


def total(violations: dict[str, float]) -> float:
    """The summed violation magnitude of one verification."""
    return float(sum(violations.values()))


class SafetyLayer(ABC):
    """Verify / repair / fall back for one environment instance (see the module docstring)."""

    env_name: ClassVar[str]  #: the environment (``make_env`` name) this layer filters

    def __init__(self, env: Any, *, time_limit: float = 10.0):
        self.env = env
        self.time_limit = time_limit  #: seconds each exact solve (repair, fallback) may take
        self.stats = SafetyStats()

    @abstractmethod
    def verify(self, actions: Any) -> dict[str, float]:
        """Violation magnitude per family if ``actions`` were applied now (all 0: feasible)."""

    @abstractmethod
    def repair(self, actions: Any, violations: dict[str, float]) -> Any | None:
        """A feasible action near ``actions`` (exact solver), or ``None`` when none is found."""

    def clip_to_box(self, actions: Any, violations: dict[str, float]) -> Any | None:
        """The environment's own projection of ``actions`` onto the device box when that is
        all the proposal needs, else ``None`` (the default: no clip step)."""
        return None

    def fallback(self) -> Any:
        """The exact oracle's action for the current state."""
        return self.env.oracle(time_limit=self.time_limit).action

    def filter(self, actions: Any) -> tuple[Any, Outcome]:
        """The actions to apply for proposal ``actions`` and what the layer did."""
        t0 = time.perf_counter()
        self.stats.decisions += 1
        viol = self.verify(actions)
        outcome: Outcome = "ok"
        if total(viol) > TOL:
            actions, outcome = self._correct(actions, viol)
        self._count(outcome)
        self.stats.repair_s += time.perf_counter() - t0
        return actions, outcome

    def _correct(self, actions: Any, viol: dict[str, float]) -> tuple[Any, Outcome]:
        """Clip, else repair, else fall back; every candidate verified again here."""
        clipped = self.clip_to_box(actions, viol)
        if clipped is not None and total(self.verify(clipped)) <= TOL:
            return clipped, "clip"
        fixed = self.repair(actions, viol)
        if fixed is not None and total(self.verify(fixed)) <= TOL:
            return fixed, "repair"
        actions = self.fallback()
        return actions, "fallback-failed" if total(self.verify(actions)) > TOL else "fallback"

    def _count(self, outcome: Outcome) -> None:
        s = self.stats
        if outcome == "ok":
            s.passed += 1
        elif outcome == "clip":
            s.clipped += 1
        elif outcome == "repair":
            s.repaired += 1
        else:
            s.fallbacks += 1
            if outcome == "fallback-failed":
                s.fallback_failed += 1
                s.delivered_violations += 1
        s.history.append(outcome)
