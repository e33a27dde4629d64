"""The case library: every name loads, sizes match their sources, bad names get suggestions."""

from __future__ import annotations

import numpy as np
import pandapower as pp
import pandapower.networks as pn
import pytest

import dispatchlab as dl
from dispatchlab.cases.library import ENTRIES, case_source
from dispatchlab.cases.pandapower_io import from_pandapower, to_pandapower
from dispatchlab.solvers.powerflow import run_ac_powerflow


def test_list_cases_groups_and_sources():
    names = dl.list_cases()
    assert {"ieee33", "ieee30", "ieee118", "ieee123", "pglib/case14_ieee"} <= set(names)
    assert dl.list_cases("seed") == [
        "ieee33-seed000",
        "ieee33-seed001",
        "ieee33-seed001-mw",
        "ieee33-seed002",
        "ieee123-seed003",
        "ieee30-seed004",
    ]
    assert len(dl.list_cases("pglib")) == 16  # 15 plain + case10000_goc gzipped
    assert all(case_source(n) for n in names)


def test_unknown_name_answers_with_the_closest_names():
    with pytest.raises(dl.UnknownCaseError) as err:
        dl.load_case("ieee3")
    message = str(err.value)
    assert message.startswith("unknown case 'ieee3'; closest: ")
    assert "ieee33" in message and "ieee30" in message


def test_aliases_and_paths(tmp_path):
    assert dl.load_case("pglib_opf_case14_ieee").name == "pglib/case14_ieee"
    assert dl.load_case("case14_ieee").n_buses == 14
    with pytest.raises(FileNotFoundError, match="case file not found"):
        dl.load_case(tmp_path / "missing.m")
    bad = tmp_path / "net.xyz"
    bad.write_text("x")
    with pytest.raises(ValueError, match=r"unknown case file type '\.xyz'"):
        dl.load_case(bad)


@pytest.mark.parametrize(
    ("name", "buses", "branches", "gens", "load_mw"),
    [
        ("ieee33", 33, 37, 1, 3.715),  # 32 feeder branches + 5 open tie lines
        ("ieee30", 30, 41, 6, 189.2),
        ("ieee118", 118, 186, 54, 4242.0),
    ],
)
def test_sizes_of_the_ieee_cases(name, buses, branches, gens, load_mw):
    case = dl.load_case(name)
    assert (case.n_buses, case.n_branches, case.n_gens) == (buses, branches, gens)
    assert case.total_load_mw == pytest.approx(load_mw)


def test_ieee33_has_five_open_ties_and_matches_case33bw():
    case = dl.load_case("ieee33")
    assert int((~case.branches["in_service"]).sum()) == 5
    ours = run_ac_powerflow(case)
    ref = pn.case33bw()
    pp.runpp(ref, init="flat", tolerance_mva=1e-9)
    vm = ref.res_bus["vm_pu"].to_numpy()
    assert np.max(np.abs(ours.bus["vm_pu"].to_numpy() - vm)) <= 1e-6


@pytest.mark.parametrize("name", ["ieee33", "ieee118"])
def test_case_pandapower_case_round_trip_is_lossless(name):
    case = dl.load_case(name)
    back = from_pandapower(to_pandapower(case))
    assert back.differences(case) == []
    assert back.case_hash() == case.case_hash()


def test_library_returns_the_same_immutable_object():
    assert dl.load_case("ieee30") is dl.load_case("ieee30")
    assert set(ENTRIES) == set(dl.list_cases())


def test_every_case_is_documented_in_the_case_library_page():
    from pathlib import Path

    page = (Path(__file__).parents[1] / "docs" / "case-library.md").read_text()
    for name in dl.list_cases():
        short = name.split("/")[-1]
        assert f"`{name}`" in page or short in page, name
