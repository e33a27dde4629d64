"""The leaderboard's rows: numbers from a compare table, and seed000's rows from its output."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dispatchlab.learning.leaderboard import COLUMNS, rows_from_compare
from dispatchlab.learning.methods.seed000.leaderboard import leaderboard_rows

DOCS = Path(__file__).resolve().parents[2] / "docs" / "benchmarks"


def test_rows_from_a_compare_table():
    table = pd.DataFrame(
        {
            "policy": ["learned"] * 4 + ["random"] * 2,
            "seed": [0, 0, 1, 1, -1, -1],
            "day": [0, 1, 0, 1, 0, 1],
            "gap_pct": [1.0, 2.0, 3.0, 4.0, 100.0, 300.0],
            "violation_steps": [0, 0, 0, 1, 20, 30],
            "repairs": [2, 3, 0, 1, 0, 0],
            "fallbacks": [0, 0, 1, 0, 0, 0],
            "decision_ms": [1.0, 2.0, 3.0, 4.0, 0.1, 0.3],
        }
    )
    rows = rows_from_compare(
        table, method="m", env="e", counterpart="exact", shielded=("learned",),
        train_s={"learned": 60.0},
    )  # fmt: skip
    assert tuple(rows.columns) == COLUMNS and list(rows["policy"]) == ["learned", "random"]
    rows = rows.set_index("policy")
    learned = rows.loc["learned"]
    assert (learned["seeds"], learned["days"]) == (2, 2)
    assert learned["gap_pct_mean"] == pytest.approx(2.5)
    assert learned["gap_pct_max"] == 4.0
    assert learned["gap_pct_p99"] == pytest.approx(np.quantile([1, 2, 3, 4], 0.99))
    # through the layer: raw = what it repaired or replaced; delivered = what still violated
    assert (learned["violation_steps_raw"], learned["violations_delivered"]) == (7, 1)
    assert (learned["repairs"], learned["fallbacks"], learned["train_s"]) == (6, 1, 60.0)
    random = rows.loc["random"]
    assert (random["violation_steps_raw"], random["violations_delivered"]) == (50, 50)
    assert random["seeds"] == 1 and np.isnan(random["train_s"])
    with pytest.raises(ValueError, match="compare table of m lacks column"):
        rows_from_compare(table.drop(columns="gap_pct"), method="m", env="e", counterpart="x")


def test_seed000_rows_come_from_its_committed_compare_output():
    rows = leaderboard_rows(DOCS)
    assert tuple(rows.columns) == COLUMNS
    rows = rows.set_index("policy")
    learned = rows.loc["learned"]
    # docs/benchmarks/seed000_compare.md: 1.21 % mean, 1.70 % worst day, 143 repairs, 0 delivered
    assert learned["gap_pct_mean"] == pytest.approx(1.21, abs=0.005)
    assert learned["gap_pct_max"] == pytest.approx(1.70, abs=0.005)
    assert (learned["seeds"], learned["days"]) == (5, 10)
    assert (learned["violation_steps_raw"], learned["violations_delivered"]) == (143, 0)
    assert rows.loc["exact", "gap_pct_max"] == 0.0
    assert rows.loc["sp", "gap_pct_mean"] == pytest.approx(19.6, abs=0.05)
    board = pd.read_csv(DOCS / "leaderboard.csv")
    assert tuple(board.columns) == COLUMNS
    assert len(board[board["method"] == "seed000"]) == len(rows)
