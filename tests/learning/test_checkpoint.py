"""Checkpoints round-trip arrays and config, and refuse pickles and foreign methods."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch

from dispatchlab.learning.checkpoint import (
    CheckpointError,
    config_from,
    load_checkpoint,
    save_checkpoint,
    torch_state_arrays,
    torch_state_from,
)


@dataclass(frozen=True)
class _Config:
    hidden: tuple[int, ...] = (64, 32)
    lr: float = 1e-3


def test_round_trip_arrays_config_metrics(tmp_path) -> None:
    net = torch.nn.Linear(3, 2)
    arrays = {"w": np.arange(6.0).reshape(2, 3), **torch_state_arrays("net", net.state_dict())}
    path = save_checkpoint(tmp_path / "m", "demo", _Config(lr=0.5), arrays, {"mae": 1.25})
    assert path.suffix == ".npz"
    header, loaded = load_checkpoint(path, method="demo")
    assert header["metrics"] == {"mae": 1.25}
    assert config_from(_Config, header) == _Config(hidden=(64, 32), lr=0.5)
    np.testing.assert_array_equal(loaded["w"], arrays["w"])
    twin = torch.nn.Linear(3, 2)
    twin.load_state_dict(torch_state_from("net", loaded))
    x = torch.ones(1, 3)
    assert torch.equal(twin(x), net(x))


def test_wrong_method_and_pickled_file_are_refused(tmp_path) -> None:
    path = save_checkpoint(tmp_path / "m.npz", "demo", _Config(), {"w": np.zeros(2)})
    with pytest.raises(CheckpointError, match="for method 'demo', not 'seed000'"):
        load_checkpoint(path, method="seed000")
    evil = tmp_path / "evil.npz"
    np.savez(evil, payload=np.array([{"code": 1}], dtype=object))
    with pytest.raises(CheckpointError, match="not a dispatchlab checkpoint"):
        load_checkpoint(evil)
    with pytest.raises(CheckpointError, match="dtype object"):
        save_checkpoint(tmp_path / "x.npz", "demo", _Config(), {"o": np.array([None], object)})


def test_unknown_config_field_is_named(tmp_path) -> None:
    path = save_checkpoint(tmp_path / "m.npz", "demo", {"hidden": [8], "depth": 3}, {})
    header, _ = load_checkpoint(path)
    with pytest.raises(CheckpointError, match=r"\['depth'\]"):
        config_from(_Config, header)


def test_malformed_files_raise_checkpoint_errors(tmp_path) -> None:
    bare = tmp_path / "bare.npy"
    np.save(bare, np.arange(3))
    with pytest.raises(CheckpointError, match=r"a single array, not an \.npz archive"):
        load_checkpoint(bare)
    not_json = tmp_path / "bad.npz"
    np.savez(not_json, **{"__header__": np.frombuffer(b"{not json", dtype=np.uint8)})
    with pytest.raises(CheckpointError, match="is not JSON"):
        load_checkpoint(not_json)
    a_list = tmp_path / "list.npz"
    np.savez(a_list, **{"__header__": np.frombuffer(b"[1, 2]", dtype=np.uint8)})
    with pytest.raises(CheckpointError, match="not a JSON object"):
        load_checkpoint(a_list)
