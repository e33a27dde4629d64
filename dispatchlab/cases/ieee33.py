"""The Baran–Wu 33-bus feeder: M. E. Baran and F. F. Wu, "Network reconfiguration in
distribution systems for loss reduction and load balancing", IEEE Trans. Power Delivery 4(2),
1401-1407, 1989, from MATPOWER's ``case33bw.m`` (read with
:func:`dispatchlab.cases.matpower.parse_matpower`).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from dispatchlab.cases import units
from dispatchlab.cases.case import Case
from dispatchlab.cases.matpower import parse_matpower


def build_ieee33(path: Path | str | None = None) -> Case:
    """The Baran–Wu 33-bus, 12.66 kV feeder (base 10 MVA) from MATPOWER's ``case33bw.m``.

    The file lists loads in kW/kvar and branch r, x in ohms and converts them with MATLAB code
    at its end; the same conversions are applied here explicitly: Pd, Qd / 1000, and r, x
    through :func:`~dispatchlab.cases.units.ohm_to_pu` with Vbase = baseKV of bus 1
    (12.66 kV) and baseMVA (10). The five tie lines (status 0) are kept, out of service.
    Bus 1 is REF; one load per bus with non-zero load; the slack generator and its
    polynomial cost come from the file's gen and gencost rows. Total load 3.715 MW, 2.3 Mvar.
    """
    path = (
        Path(path)
        if path is not None
        else Path(str(resources.files("dispatchlab.cases") / "data" / "matpower" / "case33bw.m"))
    )
    mpc = _read_case33(path)
    base_mva, bus, gen, br, cost = (mpc[k] for k in ("baseMVA", "bus", "gen", "branch", "gencost"))
    vbase_kv = float(bus[0, 9])
    buses = pd.DataFrame(
        {
            "bus_id": bus[:, 0].astype(int),
            "bus_type": [{1: "PQ", 2: "PV", 3: "REF", 4: "ISOLATED"}[int(t)] for t in bus[:, 1]],
            "gs_mw": bus[:, 4] / 1000.0,
            "bs_mvar": bus[:, 5] / 1000.0,
            "area": bus[:, 6].astype(int),
            "vm_pu": bus[:, 7],
            "va_deg": bus[:, 8],
            "base_kv": bus[:, 9],
            "zone": bus[:, 10].astype(int),
            "vm_max_pu": bus[:, 11],
            "vm_min_pu": bus[:, 12],
        }
    ).set_index("bus_id")
    has_load = (bus[:, 2] != 0) | (bus[:, 3] != 0)
    loads = pd.DataFrame(
        {
            "bus": bus[has_load, 0].astype(int),
            "p_mw": bus[has_load, 2] / 1000.0,
            "q_mvar": bus[has_load, 3] / 1000.0,
        }
    ).rename_axis("load_id")
    branches = _case33_branches(br, vbase_kv, base_mva)
    gens = pd.DataFrame(
        {
            "name": "substation",
            "bus": gen[:, 0].astype(int),
            "p_mw": gen[:, 1],
            "q_mvar": gen[:, 2],
            "q_max_mvar": gen[:, 3],
            "q_min_mvar": gen[:, 4],
            "vm_set_pu": gen[:, 5],
            "in_service": gen[:, 7] > 0,
            "p_max_mw": gen[:, 8],
            "p_min_mw": gen[:, 9],
            **_poly_cost(cost),
        }
    ).rename_axis("gen_id")
    return Case(
        "ieee33",
        buses,
        branches,
        gens,
        loads,
        base_mva=base_mva,
        meta={
            "source": f"MATPOWER {path.name}: M. E. Baran and F. F. Wu, IEEE Trans. Power Delivery "
            "4(2):1401-1407, 1989, doi:10.1109/61.25627",
            "notes": [
                "loads kW->MW and r, x ohm->p.u. (Vbase 12.66 kV, 10 MVA) as in the file",
                "5 tie lines kept with in_service = False",
            ],
        },
    )


def _case33_branches(br: np.ndarray, vbase_kv: float, base_mva: float) -> pd.DataFrame:
    """MATPOWER branch rows with r, x in ohms → p.u.; rating 0 = unlimited; ratio 0 = line."""
    rate = np.where(br[:, 5:8] > 0, br[:, 5:8], np.inf)
    is_tr = (br[:, 8] != 0) | (br[:, 9] != 0)
    tap = np.where(br[:, 8] != 0, br[:, 8], 1.0)
    return pd.DataFrame(
        {
            "from_bus": br[:, 0].astype(int),
            "to_bus": br[:, 1].astype(int),
            "kind": np.where(is_tr, "transformer", "line"),
            "r_pu": units.ohm_to_pu(br[:, 2], vbase_kv, base_mva),
            "x_pu": units.ohm_to_pu(br[:, 3], vbase_kv, base_mva),
            "b_pu": br[:, 4],
            "rate_a_mva": rate[:, 0],
            "rate_b_mva": rate[:, 1],
            "rate_c_mva": rate[:, 2],
            "tap_ratio": tap,
            "tap_min": tap,
            "tap_max": tap,
            "shift_deg": br[:, 9],
            "in_service": br[:, 10] > 0,
            "angmin_deg": br[:, 11],
            "angmax_deg": br[:, 12],
        }
    ).rename_axis("branch_id")


def _poly_cost(cost: np.ndarray) -> dict[str, np.ndarray]:
    """MATPOWER polynomial gencost rows (model 2, n ≤ 3) → c2, c1, c0 columns."""
    if (cost[:, 0] != 2).any() or (cost[:, 3] > 3).any():
        raise ValueError("case33bw: only polynomial costs of degree ≤ 2 are supported")
    coeffs = np.zeros((len(cost), 3))
    for i, row in enumerate(cost):
        n = int(row[3])
        coeffs[i, 3 - n :] = row[4 : 4 + n]
    return {
        "cost_c2_usd_per_mw2h": coeffs[:, 0],
        "cost_c1_usd_per_mwh": coeffs[:, 1],
        "cost_c0_usd_per_h": coeffs[:, 2],
    }


def _read_case33(path: Path) -> dict:
    """The raw arrays of ``path`` (:func:`parse_matpower` does not run the file's MATLAB
    conversion statements; check that they are the two this builder applies itself)."""
    raw = parse_matpower(path, required=("baseMVA", "bus", "gen", "branch", "gencost"))
    ignored = " ".join(raw["ignored"])
    if "BR_R BR_X" not in ignored or "PD, QD" not in ignored:
        raise ValueError(
            f"{path.name}: expected the kW->MW and ohm->p.u. conversion statements "
            f"of case33bw.m at its end, found {raw['ignored']}"
        )
    return raw
