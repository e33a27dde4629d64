"""Per-unit conversion: the one place where ohms, siemens, MW and per-unit meet.

Per-unit quantities use the case's three-phase ``base_mva`` and each bus's line-to-line
``base_kv``: Z_base = kV² / MVA, I_base = MVA / (√3 · kV).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def z_base_ohm(base_kv: ArrayLike, base_mva: float) -> np.ndarray:
    """Impedance base in ohm."""
    return np.asarray(base_kv, dtype=float) ** 2 / base_mva


def ohm_to_pu(z_ohm: ArrayLike, base_kv: ArrayLike, base_mva: float) -> np.ndarray:
    return np.asarray(z_ohm, dtype=float) / z_base_ohm(base_kv, base_mva)


def pu_to_ohm(z_pu: ArrayLike, base_kv: ArrayLike, base_mva: float) -> np.ndarray:
    return np.asarray(z_pu, dtype=float) * z_base_ohm(base_kv, base_mva)


def siemens_to_pu(y_s: ArrayLike, base_kv: ArrayLike, base_mva: float) -> np.ndarray:
    return np.asarray(y_s, dtype=float) * z_base_ohm(base_kv, base_mva)


def pu_to_siemens(y_pu: ArrayLike, base_kv: ArrayLike, base_mva: float) -> np.ndarray:
    return np.asarray(y_pu, dtype=float) / z_base_ohm(base_kv, base_mva)


def i_base_ka(base_kv: ArrayLike, base_mva: float) -> np.ndarray:
    """Current base in kA."""
    return base_mva / (np.sqrt(3.0) * np.asarray(base_kv, dtype=float))


def mva_to_ka(s_mva: ArrayLike, base_kv: ArrayLike) -> np.ndarray:
    """Current at 1 p.u. voltage that carries ``s_mva``."""
    return np.asarray(s_mva, dtype=float) / (np.sqrt(3.0) * np.asarray(base_kv, dtype=float))


def ka_to_mva(i_ka: ArrayLike, base_kv: ArrayLike) -> np.ndarray:
    return np.asarray(i_ka, dtype=float) * np.sqrt(3.0) * np.asarray(base_kv, dtype=float)


def mw_to_pu(p_mw: ArrayLike, base_mva: float) -> np.ndarray:
    return np.asarray(p_mw, dtype=float) / base_mva


def pu_to_mw(p_pu: ArrayLike, base_mva: float) -> np.ndarray:
    return np.asarray(p_pu, dtype=float) * base_mva


def nf_to_b_pu(
    c_nf: ArrayLike, base_kv: ArrayLike, base_mva: float, f_hz: float = 50.0
) -> np.ndarray:
    """Total shunt capacitance (nF) to charging susceptance in p.u."""
    b_s = 2.0 * np.pi * f_hz * np.asarray(c_nf, dtype=float) * 1e-9
    return siemens_to_pu(b_s, base_kv, base_mva)


def b_pu_to_nf(
    b_pu: ArrayLike, base_kv: ArrayLike, base_mva: float, f_hz: float = 50.0
) -> np.ndarray:
    b_s = pu_to_siemens(b_pu, base_kv, base_mva)
    return b_s / (2.0 * np.pi * f_hz) * 1e9
