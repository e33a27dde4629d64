"""Safety layers: one verify → repair → fall back layer per environment family.

The protocol (:class:`~dispatchlab.learning.safety.base.SafetyLayer`, :class:`SafetyStats`) is in
:mod:`.base`; each family's layer is a module beside it and registers in :data:`SAFETY_LAYERS`
under its environment's ``make_env`` name. Layers are imported only when made, so importing this
package pulls neither a solver nor an environment.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from dispatchlab.learning.safety.base import TOL, SafetyLayer, SafetyStats

_MOD = "dispatchlab.learning.safety"

#: environment name -> "module:class" of its safety layer
SAFETY_LAYERS: dict[str, str] = {
    "der-dispatch": f"{_MOD}.der_dispatch:DERDispatchSafetyLayer",
    "voltage-control": f"{_MOD}.voltage:VoltageSafetyLayer",
    "voltage-control-discrete": f"{_MOD}.voltage_discrete:DiscreteVoltageSafetyLayer",
    "transmission-dispatch": f"{_MOD}.transmission:TransmissionSafetyLayer",
    "der-selection": f"{_MOD}.der_selection:DERSelectionSafetyLayer",
}


def make_safety_layer(env_name: str, env: Any, **options: Any) -> SafetyLayer:
    """The safety layer of environment ``env_name``, built on the instance ``env``."""
    if env_name not in SAFETY_LAYERS:
        raise KeyError(
            f"environment '{env_name}' has no safety layer; layers exist for: "
            f"{', '.join(sorted(SAFETY_LAYERS))}"
        )
    module, attr = SAFETY_LAYERS[env_name].split(":")
    return getattr(import_module(module), attr)(env, **options)


def shielded(policy: Any, layer: SafetyLayer) -> Any:
    """``policy(env, observations) -> actions`` with every decision passed through ``layer``."""

    def safe(env: Any, observations: Any) -> Any:
        return layer.filter(policy(env, observations))[0]

    safe.name = f"{getattr(policy, 'name', getattr(policy, '__name__', 'policy'))}+safety"
    return safe


__all__ = [
    "SAFETY_LAYERS",
    "TOL",
    "SafetyLayer",
    "SafetyStats",
    "make_safety_layer",
    "shielded",
]
