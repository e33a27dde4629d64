"""Distribution feeders: the IEEE 123-node feeder from its OpenDSS files and Baran–Wu 33-bus."""

from __future__ import annotations

import math
import re
import shutil
from importlib import resources
from pathlib import Path

import numpy as np
import pandapower as pp
import pandapower.networks as pn
import pytest

from dispatchlab import Case
from dispatchlab.cases.dss import as_matrix, parse_dss
from dispatchlab.cases.feeders import build_ieee33, build_ieee123
from dispatchlab.cases.pandapower_io import to_pandapower

IEEE123 = Path(str(resources.files("dispatchlab.cases") / "data" / "ieee123"))


@pytest.fixture(scope="module")
def ieee123() -> Case:
    return build_ieee123()


@pytest.fixture(scope="module")
def ieee33() -> Case:
    return build_ieee33()


# ----------------------------------------------------------------------------- IEEE 123
def _dss_sum(text: str, key: str) -> float:
    return sum(float(v) for v in re.findall(rf"\b{key}\s*=\s*([-\d.eE+]+)", text, flags=re.I))


def test_ieee123_buses(ieee123):
    # 114 numbered nodes 1..114, 11 other numbered buses (135 149 150 151 152 160 197 250 300
    # 450 610) and 5 named ones (150r 160r 25r 9r behind the regulators, 61s before XFM1):
    # 130, which is also the number of entries of BusCoords.dat. The "123" of the feeder's name
    # counts nodes of the original IEEE drawing, not OpenDSS buses; hence 120 <= n <= 135.
    assert ieee123.n_buses == 130
    assert 120 <= ieee123.n_buses <= 135
    buses = ieee123.buses
    assert set(range(1, 115)) <= set(buses.index)
    named = buses[buses.index >= 1000]["name"].tolist()
    assert named == ["150r", "160r", "25r", "61s", "9r"]
    assert buses.loc[150, "bus_type"] == "REF" and (buses.bus_type == "REF").sum() == 1
    assert buses.loc[150, "vm_pu"] == 1.0
    assert buses.loc[610, "base_kv"] == 0.48
    assert (buses.drop(index=610)["base_kv"] == 4.16).all()
    assert buses.loc[1, ["x_coord", "y_coord"]].tolist() == [700.0, 1500.0]
    assert buses[["x_coord", "y_coord"]].notna().all().all()


def test_ieee123_total_load_equals_dss_file(ieee123):
    text = (IEEE123 / "IEEE123Loads.DSS").read_text()
    text = "\n".join(line.split("!")[0] for line in text.splitlines())
    kw, kvar = _dss_sum(text, "kW"), _dss_sum(text, "kvar")
    assert kw == pytest.approx(3490.0) and kvar == pytest.approx(1920.0)  # published totals
    loads = ieee123.loads
    assert loads["p_mw"].sum() == pytest.approx(kw / 1000.0, rel=1e-12)
    assert loads["q_mvar"].sum() == pytest.approx(kvar / 1000.0, rel=1e-12)
    assert len(loads) == 85 and loads["bus"].is_unique
    # bus 65: three delta loads 35 + 35 + 70 kW summed into one
    assert loads.set_index("bus").loc[65, "p_mw"] == pytest.approx(0.140)


def test_ieee123_branches(ieee123):
    br = ieee123.branches
    assert ieee123.n_branches == 131 and ieee123.base_mva == 10.0
    assert (br.kind == "line").sum() == 118
    sw = br[br.kind == "switch"]
    assert len(sw) == 8 and sw.in_service.sum() == 6
    assert sorted(sw.name[~sw.in_service]) == ["Line.sw7", "Line.sw8"]
    assert (sw.r_pu == 1e-4).all() and (sw.x_pu == 1e-4).all()
    tr = br[br.kind == "transformer"].set_index("name")
    regs = tr.loc[tr.tap_steps > 0]
    assert sorted(regs.index) == [
        "Transformer.reg1a",
        "Transformer.reg2a",
        "Transformer.reg3a+reg3c",
        "Transformer.reg4a+reg4b+reg4c",
    ]
    assert (regs.tap_ratio == 1.0).all() and (regs.tap_steps == 33).all()
    assert (regs.tap_min == 0.9).all() and (regs.tap_max == 1.1).all()
    assert regs.rate_a_mva.tolist() == [5.0, 2.0, 4.0, 6.0]
    # XFM1: 150 kVA, XHL 2.72 %, %r 0.635 per winding, on 10 MVA
    xfm = tr.loc["Transformer.xfm1"]
    assert xfm.x_pu == pytest.approx(0.0272 * 10 / 0.15)
    assert xfm.r_pu == pytest.approx(0.0127 * 10 / 0.15)


def test_ieee123_line_impedance_from_linecode(ieee123):
    # L115: linecode 1 (ohm/kft), 0.4 kft; z1 = mean(diag) - mean(offdiag) of the matrices
    model = parse_dss(IEEE123 / "IEEE123Switches.dss")
    code = model.objects["linecode"]["1"].props
    r, x, c = (as_matrix(code[k], "") for k in ("rmatrix", "xmatrix", "cmatrix"))
    off = ~np.eye(3, dtype=bool)
    r1, x1, c1 = (m.diagonal().mean() - m[off].mean() for m in (r, x, c))
    zb = 4.16**2 / 10.0
    line = ieee123.branches.set_index("name").loc["Line.l115"]
    assert line.r_pu == pytest.approx(r1 * 0.4 / zb, rel=1e-12)
    assert line.x_pu == pytest.approx(x1 * 0.4 / zb, rel=1e-12)
    assert line.b_pu == pytest.approx(2 * math.pi * 60 * c1 * 0.4e-9 * zb, rel=1e-12)
    assert line.length_km == pytest.approx(0.4 * 0.3048)
    # a single-phase lateral (L1, code 10) keeps the self impedance of its phase
    l1 = ieee123.branches.set_index("name").loc["Line.l1"]
    assert l1.r_pu == pytest.approx(0.251742424 * 0.175 / zb, rel=1e-12)


def test_ieee123_capacitors_and_slack(ieee123):
    ders = ieee123.ders.set_index("name")
    assert (ders.kind == "capacitor").all() and len(ders) == 4
    assert ders.q_mvar.sum() == pytest.approx(0.75)
    assert ders.loc["Capacitor.c83", ["bus", "q_mvar", "q_max_mvar", "n_steps"]].tolist() == [
        83,
        0.6,
        0.6,
        1,
    ]
    gen = ieee123.gens.iloc[0]
    assert gen.bus == 150 and gen.p_max_mw == 10.0 and gen.cost_c1_usd_per_mwh == 50.0
    assert "OpenDSS" in ieee123.meta["source"]


def test_ieee123_power_flow(ieee123):
    net = to_pandapower(ieee123, f_hz=60.0)
    pp.runpp(net)
    vm = net.res_bus.vm_pu
    assert net.converged
    # Balanced equivalent with every regulator at tap 1.0 (the files give no tap positions):
    # observed min 0.9511 p.u. at bus 114 (end of the single-phase lateral 108-114), losses
    # 0.097 MW (to_pandapower writes the capacitors as constant-susceptance shunts; as
    # constant-Q injections the minimum would be 0.9526). The published unbalanced solution,
    # with the regulators on their taps (reg1 at +7 steps = 1.044), keeps the minimum phase
    # voltage at about 0.98-1.0.
    assert 0.90 < vm.min() < 1.05
    assert vm.min() == pytest.approx(0.9511, abs=3e-3) and vm.idxmin() == 114
    assert vm.max() <= 1.0 + 1e-9
    loss = net.res_ext_grid.p_mw.sum() - 3.49
    assert 0.0 < loss < 0.2


def test_ieee123_old_master_keeps_open_point_buses():
    case = build_ieee123(master="IEEE123Master.dss")
    assert case.n_buses == 132  # + 300_open, 94_open (stub buses of Sw7 and Sw8)
    assert {"300_open", "94_open"} <= set(case.buses["name"])
    assert case.total_load_mw == pytest.approx(3.49)


# ------------------------------------------------------------------------- malformed files
def _copy(tmp_path: Path) -> Path:
    folder = tmp_path / "ieee123"
    shutil.copytree(IEEE123, folder)
    return folder


def _edit(path: Path, old: str, new: str) -> int:
    """Replace ``old`` by ``new`` in ``path``; return the 1-based line number of the change."""
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return text[: text.index(old)].count("\n") + 1


def test_unknown_linecode_names_file_and_line(tmp_path):
    folder = _copy(tmp_path)
    master = folder / "IEEE123Switches.dss"
    line = _edit(master, "Bus2=1          LineCode=1 ", "Bus2=1          LineCode=99 ")
    with pytest.raises(ValueError, match=rf"IEEE123Switches\.dss:{line}: .*unknown linecode '99'"):
        build_ieee123(folder)


def test_bad_number_in_redirected_file(tmp_path):
    folder = _copy(tmp_path)
    line = _edit(folder / "IEEE123Loads.DSS", "kW=40.0  kvar=20.0", "kW=4O.0  kvar=20.0")
    with pytest.raises(ValueError, match=rf"IEEE123Loads\.DSS:{line}: expected a number"):
        build_ieee123(folder)


def test_bad_matrix_row_and_unknown_class(tmp_path):
    folder = _copy(tmp_path)
    line = _edit(
        folder / "IEEELineCodes.DSS",
        "[0.086666667 | 0.029545455 0.088371212 |",
        "[0.086666667 | 0.029545455 |",
    )
    with pytest.raises(ValueError, match=rf"IEEELineCodes\.DSS:{line}: matrix row 2"):
        build_ieee123(folder)
    folder = _copy(tmp_path / "b")
    line = _edit(folder / "IEEE123Switches.dss", "New Capacitor.C83", "New Reactor.C83")
    with pytest.raises(ValueError, match=rf"IEEE123Switches\.dss:{line}: unsupported object"):
        build_ieee123(folder)


def test_units_of_line_and_linecode(tmp_path):
    (tmp_path / "m.dss").write_text(
        "New object=circuit.t\n~ basekv=12.47 bus1=src pu=1.02\n"
        "New Linecode.c nphases=1 units=mi rmatrix=[1.609344] xmatrix=(3.218688)\n"
        "More cmatrix=[10]  ! nF per mile\n"
        "New Line.a bus1=src bus2=b linecode=c length=500 units=m // half a km\n"
        "New Load.l bus1=b.1 kW=100 kvar=50\n"
    )
    case = build_ieee123(tmp_path, master="m.dss")
    br = case.branches.iloc[0]
    zb = 12.47**2 / 10.0
    assert br.r_pu == pytest.approx(0.5 / zb) and br.x_pu == pytest.approx(1.0 / zb)
    assert br.b_pu == pytest.approx(2 * math.pi * 60 * 10e-9 * 500 / 1609.344 * zb)
    assert br.length_km == 0.5
    assert case.buses.set_index("name").loc["src", "vm_pu"] == 1.02
    assert case.buses["base_kv"].tolist() == [12.47, 12.47]


# ------------------------------------------------------------------------------- IEEE 33
def test_ieee33_tables(ieee33):
    assert ieee33.n_buses == 33 and list(ieee33.buses.index) == list(range(1, 34))
    br = ieee33.branches
    assert ieee33.n_branches == 37 and br.in_service.sum() == 32  # 5 open tie lines kept
    assert ieee33.total_load_mw == pytest.approx(3.715)
    assert ieee33.loads.q_mvar.sum() == pytest.approx(2.3)
    assert len(ieee33.loads) == 32 and 1 not in set(ieee33.loads.bus)
    assert ieee33.buses.loc[1, "bus_type"] == "REF" and ieee33.base_mva == 10.0
    # branch 1-2: 0.0922 + j0.0470 ohm on (12.66 kV)^2 / 10 MVA
    assert br.iloc[0].r_pu == pytest.approx(0.0922 / (12.66**2 / 10))
    gen = ieee33.gens.iloc[0]
    assert (gen.bus, gen.p_max_mw, gen.q_min_mvar, gen.cost_c1_usd_per_mwh) == (1, 10, -10, 20)


def test_ieee33_power_flow_matches_pandapower(ieee33):
    ours = to_pandapower(ieee33)
    ref = pn.case33bw()
    pp.runpp(ours)
    pp.runpp(ref)
    vm_ours = ours.res_bus.vm_pu.sort_index().to_numpy()
    vm_ref = ref.res_bus.vm_pu.sort_index().to_numpy()
    assert len(vm_ours) == len(vm_ref) == 33
    np.testing.assert_allclose(vm_ours, vm_ref, atol=1e-6, rtol=0)
    assert vm_ours.min() == pytest.approx(0.9131, abs=1e-4)  # Baran & Wu: 0.913 at bus 18


def test_missing_bus_and_continuation_errors(tmp_path):
    (tmp_path / "a.dss").write_text(
        "New object=circuit.t basekv=12.47 bus1=src\nNew Line.a bus1=src r1=0.1 x1=0.1\n"
    )
    with pytest.raises(ValueError, match=r"a\.dss:2: line\.a: no bus2 given"):
        build_ieee123(tmp_path, master="a.dss")
    (tmp_path / "b.dss").write_text("! nothing yet\n~ basekv=12.47\n")
    with pytest.raises(ValueError, match=r"b\.dss:2: continuation line"):
        build_ieee123(tmp_path, master="b.dss")
