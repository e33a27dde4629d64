"""``reduce fit|evaluate`` through typer's CliRunner on a tiny case57 dataset."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from dispatchlab.learning.reduce.cli import REGISTRY, reduce_app
from dispatchlab.learning.reduce.dataset import DatasetConfig, build_sced_dataset
from dispatchlab.learning.reduce.screening import ConstraintScreening

runner = CliRunner()


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    out = tmp_path_factory.mktemp("reduce-cli") / "case57.parquet"
    scenarios = [{"load_scale": s} for s in (0.4, 0.9, 1.0)]
    build_sced_dataset("pglib/case57_ieee", scenarios, "all",
                       DatasetConfig(rating_factor=0.8, workers=1), out)  # fmt: skip
    return out


def test_fit_then_evaluate(data, tmp_path):
    ckpt = tmp_path / "model.npz"
    res = runner.invoke(reduce_app, ["fit", str(data), "--out", str(ckpt), "--method",
                                     "screening", "--set", "threshold=0.4",
                                     "--set", "keep_frequency=0.9"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "saved" in res.output and ckpt.exists()
    model = ConstraintScreening.load(ckpt)
    assert (model.config.threshold, model.config.keep_frequency) == (0.4, 0.9)
    assert model.fitted.pairs.tolist() == [[6, 7]]
    csv = tmp_path / "eval.csv"
    res = runner.invoke(reduce_app, ["evaluate", str(ckpt), str(data), "--out", str(csv)])
    assert res.exit_code == 0, res.output
    assert "3 of 3 points at the exact optimum" in res.output
    ev = pd.read_csv(csv)
    assert len(ev) == 3 and ev["certified"].all() and (ev["rel_gap"] <= 1e-6).all()
    assert ev["predicted"].sum() >= 2  # the pair binds at loads 0.9 and 1.0


def test_cli_errors(data, tmp_path):
    res = runner.invoke(reduce_app, ["fit", str(data), "-o", str(tmp_path / "m"),
                                     "--set", "nope=1"])  # fmt: skip
    assert res.exit_code == 2 and "NAME one of" in res.output
    res = runner.invoke(reduce_app, ["fit", str(data), "-o", str(tmp_path / "m"),
                                     "--set", "threshold=high"])  # fmt: skip
    assert res.exit_code == 2 and "cannot read 'high'" in res.output
    res = runner.invoke(reduce_app, ["fit", str(data), "-o", str(tmp_path / "m"), "-m", "magic"])
    assert res.exit_code == 2 and "unknown method 'magic'" in res.output
    res = runner.invoke(reduce_app, ["fit", str(tmp_path / "none.parquet"), "-o", "x"])
    assert res.exit_code == 2 and "does not exist" in res.output
    bad = tmp_path / "bad.parquet"
    pd.read_parquet(data).drop(columns=["objective"]).to_parquet(bad)
    res = runner.invoke(reduce_app, ["fit", str(bad), "-o", str(tmp_path / "m")])
    assert res.exit_code == 2 and "missing columns ['objective']" in res.output
    assert set(REGISTRY) == {"screening", "pruning", "warmstart"}


@pytest.mark.parametrize("method", ["pruning", "warmstart"])
def test_ed_reductions_fit_and_evaluate(method, tmp_path):
    from dispatchlab.learning.reduce.datasets_ed import build_dataset

    train = build_dataset("ieee33+ders200", 30, 0, tmp_path / "train.parquet")
    test = build_dataset("ieee33+ders200", 6, 1, tmp_path / "test.parquet")
    ckpt = tmp_path / f"{method}.npz"
    res = runner.invoke(reduce_app, ["fit", str(train), "-o", str(ckpt), "-m", method])
    assert res.exit_code == 0, res.output
    csv = tmp_path / "eval.csv"
    res = runner.invoke(
        reduce_app, ["evaluate", str(ckpt), str(test), "-m", method, "-o", str(csv)]
    )
    assert res.exit_code == 0, res.output
    assert "6 of 6 points at the exact optimum" in res.output
    ev = pd.read_csv(csv)
    assert (ev["rel_gap"] <= 1e-6).all() and (ev["status"] == "optimal").all()
    if method == "pruning":
        assert ev["certified"].all() and (ev["predicted"] > 0).all()
