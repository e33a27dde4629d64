"""pandapower nets with OPF data, built as pandapower's OPF tutorials and users build them.

Each builder returns a fresh net on which ``pandapower.runopp`` converges; the tests compare its
objective with ``solve(from_pandapower(net), "acopf")``.
"""

from __future__ import annotations

import itertools

import pandapower as pp
import pandapower.networks as pn


def opf_basic(pwl: bool = False) -> pp.pandapowerNet:
    """pandapower's "opf_basic" tutorial: a 220/110 kV grid, two gens and an ext_grid, branch
    limits of 50 % and a tight voltage band; ``pwl``: the tutorial's piecewise-linear costs."""
    net = pp.create_empty_network()
    b1, b2, b3, b4 = (pp.create_bus(net, vn_kv=kv) for kv in (220.0, 110.0, 110.0, 110.0))
    pp.create_transformer(net, b1, b2, std_type="100 MVA 220/110 kV")
    for f, t, km in ((b2, b3, 70.0), (b3, b4, 50.0), (b4, b2, 40.0)):
        pp.create_line(net, f, t, length_km=km, std_type="149-AL1/24-ST1A 110.0")
    for bus, p in ((b2, 60.0), (b3, 70.0), (b4, 10.0)):
        pp.create_load(net, bus, p_mw=p, controllable=False)
    pp.create_ext_grid(net, b1, min_p_mw=-1000, max_p_mw=1000)
    pp.create_gen(net, b3, p_mw=80, min_p_mw=0, max_p_mw=80, vm_pu=1.01, controllable=True)
    pp.create_gen(net, b4, p_mw=100, min_p_mw=0, max_p_mw=100, vm_pu=1.01, controllable=True)
    if pwl:
        pp.create_pwl_cost(net, 0, "ext_grid", [[-1000, 0, -5], [0, 1000, 15]])
        pp.create_pwl_cost(net, 0, "gen", [[0, 40, 10], [40, 80, 12]])
        pp.create_pwl_cost(net, 1, "gen", [[0, 50, 9], [50, 100, 14]])
    else:
        pp.create_poly_cost(net, 0, "ext_grid", cp1_eur_per_mw=10)
        pp.create_poly_cost(net, 0, "gen", cp1_eur_per_mw=15)
        pp.create_poly_cost(net, 1, "gen", cp1_eur_per_mw=12)
    net.trafo["max_loading_percent"] = 50.0
    net.line["max_loading_percent"] = 50.0
    net.bus["min_vm_pu"] = 1.0
    net.bus["max_vm_pu"] = 1.02
    return net


def cigre_mv_market(with_der: str = "all") -> pp.pandapowerNet:
    """CIGRE MV with its DERs: curtailable sgens (−1 per MW), storage paid 2 per MW charged,
    two flexible loads (paid 15 per MW consumed, down to half their demand), an ext_grid at
    10 per MW and 0.5 per MVAr; a 0.95–1.05 p.u. band and 100 % branch limits."""
    net = pn.create_cigre_network_mv(with_der=with_der)
    net.bus["min_vm_pu"], net.bus["max_vm_pu"] = 0.95, 1.05
    net.line["max_loading_percent"] = 100.0
    net.trafo["max_loading_percent"] = 100.0
    net.ext_grid["controllable"] = True
    _curtailable_sgens(net)
    if len(net.storage):
        st = net.storage
        st["controllable"] = True
        st["min_p_mw"], st["max_p_mw"] = -st["p_mw"].abs() - 0.1, st["p_mw"].abs() + 0.1
        st["min_q_mvar"], st["max_q_mvar"] = -0.05, 0.05
        for k in st.index:
            pp.create_poly_cost(net, k, "storage", cp1_eur_per_mw=-2)
    ld = net.load
    ld["controllable"] = ld.index.isin([1, 5])
    ld["min_p_mw"], ld["max_p_mw"] = 0.5 * ld["p_mw"], ld["p_mw"]
    ld["min_q_mvar"], ld["max_q_mvar"] = 0.5 * ld["q_mvar"], ld["q_mvar"]
    for k in (1, 5):
        pp.create_poly_cost(net, k, "load", cp1_eur_per_mw=-15)
    pp.create_poly_cost(net, 0, "ext_grid", cp1_eur_per_mw=10, cq1_eur_per_mvar=0.5)
    return net


def reactive_market() -> pp.pandapowerNet:
    """A reactive-power market on a 20 kV feeder: sgens are paid for Q (cq1, cq2), the voltage
    band binds; P of the sgens is fixed by their controllable range [p, p]."""
    net = pp.create_empty_network()
    buses = [pp.create_bus(net, 20.0, min_vm_pu=0.97, max_vm_pu=1.03) for _ in range(6)]
    pp.create_ext_grid(net, buses[0], vm_pu=1.0, controllable=True, min_p_mw=-100, max_p_mw=100)
    for f, t in itertools.pairwise(buses):
        pp.create_line(net, f, t, 3.0, "NA2XS2Y 1x240 RM/25 12/20 kV", max_loading_percent=100)
    for k, bus in enumerate(buses[1:], start=1):
        pp.create_load(net, bus, p_mw=1.5, q_mvar=0.6)
        if k % 2 == 0:
            pp.create_sgen(
                net, bus, p_mw=1.0, controllable=True, min_p_mw=1.0, max_p_mw=1.0,
                min_q_mvar=-1.0, max_q_mvar=1.0,
            )  # fmt: skip
    pp.create_poly_cost(net, 0, "ext_grid", cp1_eur_per_mw=50, cq1_eur_per_mvar=1.0)
    for k in net.sgen.index:
        pp.create_poly_cost(net, k, "sgen", cp1_eur_per_mw=0, cq1_eur_per_mvar=0.5 + k,
                            cq2_eur_per_mvar2=2.0)  # fmt: skip
    return net


def storage_and_curtailment() -> pp.pandapowerNet:
    """A 110 kV ring with a controllable storage (paid per MW charged), a curtailable wind park
    (``cp1 = -1``) and a fixed PV plant, as in pandapower's storage OPF tutorial."""
    net = pp.create_empty_network()
    b = [pp.create_bus(net, 110.0, min_vm_pu=0.95, max_vm_pu=1.05) for _ in range(4)]
    pp.create_ext_grid(net, b[0], controllable=True, min_p_mw=-200, max_p_mw=200)
    for f, t in ((0, 1), (1, 2), (2, 3), (3, 0)):
        pp.create_line(net, b[f], b[t], 20.0, "149-AL1/24-ST1A 110.0", max_loading_percent=60)
    pp.create_load(net, b[2], p_mw=40.0, q_mvar=10.0)
    pp.create_sgen(net, b[1], p_mw=90.0, type="WP", controllable=True, min_p_mw=0, max_p_mw=90,
                   min_q_mvar=-20, max_q_mvar=20)  # fmt: skip
    pp.create_sgen(net, b[3], p_mw=15.0, q_mvar=2.0, type="PV")  # fixed
    pp.create_storage(net, b[3], p_mw=0.0, max_e_mwh=50, controllable=True, min_p_mw=-20,
                      max_p_mw=20, min_q_mvar=-5, max_q_mvar=5)  # fmt: skip
    pp.create_poly_cost(net, 0, "ext_grid", cp1_eur_per_mw=20)
    pp.create_poly_cost(net, 0, "sgen", cp1_eur_per_mw=-1)
    pp.create_poly_cost(net, 0, "storage", cp1_eur_per_mw=-3)
    return net


def mv_oberrhein_curtailment() -> pp.pandapowerNet:
    """``mv_oberrhein`` (its open line switches and two ext_grids) with every sgen curtailable
    at −1 per MW, Q within ±30 % of P, ext_grids at 10 per MW and voltage/loading limits."""
    net = pn.mv_oberrhein()
    net.bus["min_vm_pu"], net.bus["max_vm_pu"] = 0.96, 1.04
    net.line["max_loading_percent"] = 80.0
    net.trafo["max_loading_percent"] = 80.0
    net.ext_grid["controllable"] = True
    _curtailable_sgens(net)
    for k in net.ext_grid.index:
        pp.create_poly_cost(net, k, "ext_grid", cp1_eur_per_mw=10)
    return net


def simbench_curtailment(net: pp.pandapowerNet | str) -> pp.pandapowerNet:
    """A SimBench grid (a net or its code) with curtailable sgens (cp1 = −1, P in [0, p_mw],
    Q in ±30 % of P) and controllable ext_grids at 1 per MW (SimBench leaves ``controllable``
    NaN, which runopp refuses)."""
    if isinstance(net, str):
        import simbench as sb

        net = sb.get_simbench_net(net)
    net.ext_grid["controllable"] = True
    _curtailable_sgens(net)
    for k in net.ext_grid.index:
        pp.create_poly_cost(net, k, "ext_grid", cp1_eur_per_mw=1)
    return net


def _curtailable_sgens(net: pp.pandapowerNet) -> None:
    p = net.sgen["p_mw"] * net.sgen["scaling"]
    net.sgen["controllable"] = True
    net.sgen["min_p_mw"], net.sgen["max_p_mw"] = 0.0, p
    net.sgen["min_q_mvar"], net.sgen["max_q_mvar"] = -0.3 * p, 0.3 * p
    for k in net.sgen.index:
        pp.create_poly_cost(net, k, "sgen", cp1_eur_per_mw=-1)


def matpower_case(name: str) -> pp.pandapowerNet:
    """pandapower's MATPOWER case networks (they carry MATPOWER's costs and limits)."""
    return getattr(pn, name)()


def pwl_reactive_costs() -> pp.pandapowerNet:
    """The "opf_basic" tutorial with its pwl P costs, a controllable sgen and a controllable
    load at bus 4, and pwl reactive-power costs (``power_type="q"``): V-shaped on both gens
    (paid for |Q|), on the sgen (cheaper to absorb than to inject) and on the load."""
    net = opf_basic(pwl=True)
    net.gen["min_q_mvar"], net.gen["max_q_mvar"] = -50.0, 50.0
    b4 = net.bus.index[3]
    pp.create_sgen(net, b4, p_mw=10.0, controllable=True, min_p_mw=0, max_p_mw=20,
                   min_q_mvar=-15, max_q_mvar=15)  # fmt: skip
    pp.create_load(net, b4, p_mw=5.0, q_mvar=2.0, controllable=True, min_p_mw=5, max_p_mw=5,
                   min_q_mvar=-3, max_q_mvar=6)  # fmt: skip
    pp.create_pwl_cost(net, 0, "sgen", [[0, 20, 8]])
    pp.create_pwl_cost(net, 0, "gen", [[-50, 0, -2], [0, 50, 3]], power_type="q")
    pp.create_pwl_cost(net, 1, "gen", [[-50, -10, -4], [-10, 0, -1], [0, 50, 1.5]],
                       power_type="q")  # fmt: skip
    pp.create_pwl_cost(net, 0, "sgen", [[-15, 0, -0.5], [0, 15, 2.5]], power_type="q")
    pp.create_pwl_cost(net, 3, "load", [[-6, 0, 1], [0, 3, -2]], power_type="q")
    return net
