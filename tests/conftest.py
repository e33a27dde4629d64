"""Shared fixtures: small hand-built cases whose numbers can be checked by hand."""

from __future__ import annotations

import pandas as pd
import pytest

from dispatchlab import Case


def three_bus_tables() -> dict:
    return {
        "buses": {"bus_id": [1, 2, 3], "base_kv": [110.0] * 3, "bus_type": ["REF", "PV", "PQ"]},
        "branches": {
            "from_bus": [1, 2, 1],
            "to_bus": [2, 3, 3],
            "r_pu": [0.01, 0.01, 0.02],
            "x_pu": [0.1, 0.1, 0.2],
            "rate_a_mva": [100.0, 100.0, 50.0],
        },
        "gens": {
            "bus": [1, 2],
            "p_max_mw": [200.0, 100.0],
            "cost_c1_usd_per_mwh": [20.0, 30.0],
        },
        "loads": {"bus": [3], "p_mw": [150.0], "q_mvar": [30.0]},
    }


@pytest.fixture
def three_bus() -> Case:
    return Case("three-bus", **three_bus_tables())


@pytest.fixture
def hourly_index() -> pd.DatetimeIndex:
    return pd.date_range("2024-01-01", periods=24, freq="h")
