"""seed000's regional agent: a 2-layer graph convolution that predicts nodal marginal prices.

Architecture (seed000 §3.2, eq. 7): bus features X (net injection, voltage magnitude, angle
history, impedance of the feeding branch; :mod:`price_data`) pass two graph convolutions

    H¹ = ReLU(Â X W¹),   H² = ReLU(Â H¹ W²),   Â = D̃^{-1/2} (A + I) D̃^{-1/2}

(the paper prints eq. 7 garbled; this is the standard Kipf–Welling layer it names: adjacency
with self-loops, degree normalization, ReLU). A fully connected head maps the flattened
embedding of all buses to the LMP vector — the "approximate economic dispatch" of eq. 1 whose
marginal costs are the nodal prices. It is trained by supervised regression on the exact DLMPs
(``solve(case, "dlmp")``) of sampled states; features and labels are standardized with the
training set's statistics, which are stored in the checkpoint.

Metrics: MAE and p99 of |predicted − exact| in $/MWh over held-out states (:func:`lmp_errors`);
the cost regret of acting on predicted prices is measured where prices drive decisions, in
:mod:`.method` (the edge controllers run once with exact and once
with predicted LMPs on the same test days).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from dispatchlab.learning.agents.gcn import GraphConv, normalized_adjacency
from dispatchlab.learning.checkpoint import (
    config_from,
    load_checkpoint,
    save_checkpoint,
    torch_state_arrays,
    torch_state_from,
)
from dispatchlab.learning.methods.seed000.price_data import (
    N_FEATURES,
    PriceDataset,
    PriceFeaturizer,
    SamplingConfig,
    build_dataset,
)
from dispatchlab.learning.seeding import seed_everything

METHOD = "price_gcn"


@dataclass(frozen=True)
class PriceGCNConfig:
    """Hyperparameters of the price GCN and of its training set (one line each)."""

    case: str = "ieee33-seed000"  #: the feeder whose prices are learned
    n_units: int | None = None  #: der-dispatch units the states are sampled with (None: case's)
    n_levels: int = 5  #: discrete levels of the random dispatch that generates the states
    test_fraction: float = 0.25  #: share of the scenarios (whole days) held out for metrics
    sampling: SamplingConfig = field(default_factory=SamplingConfig)  #: state perturbations
    workers: int = 2  #: processes collecting and labelling states
    hidden: int = 32  #: width of each graph convolution
    head_hidden: int = 128  #: width of the dense head
    epochs: int = 60  #: passes over the training states
    batch_size: int = 64  #: states per gradient step
    lr: float = 1e-3  #: Adam learning rate
    weight_decay: float = 1e-5  #: Adam L2 penalty
    seed: int = 0  #: seeds sampling, the split and torch


class PriceGCN(nn.Module):
    """Two graph convolutions (ReLU) and a dense head: (S, bus, F) → (S, bus) standardized LMPs."""

    def __init__(self, adjacency: np.ndarray, n_features: int, hidden: int, head_hidden: int):
        super().__init__()
        n = adjacency.shape[0]
        self.register_buffer("adj", torch.as_tensor(adjacency, dtype=torch.float32))
        self.w1 = GraphConv(n_features, hidden)
        self.w2 = GraphConv(hidden, hidden)
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(n * hidden, head_hidden), nn.ReLU(), nn.Linear(head_hidden, n)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.w1(x, self.adj))  # ReLU(Â X W¹)
        h = torch.relu(self.w2(h, self.adj))
        return self.head(h)


@dataclass
class PricePredictor:
    """A fitted GCN with its standardization; ``predict`` takes raw features, returns $/MWh."""

    config: PriceGCNConfig
    net: PriceGCN
    x_mean: np.ndarray
    x_std: np.ndarray
    y_mean: np.ndarray
    y_std: np.ndarray
    metrics: dict = field(default_factory=dict)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """LMPs ($/MWh) for features (S, bus, F) or (bus, F)."""
        single = x.ndim == 2
        xs = (np.atleast_3d(x[None] if single else x) - self.x_mean) / self.x_std
        with torch.inference_mode():
            out = self.net(torch.as_tensor(xs, dtype=torch.float32)).numpy()
        lmp = out * self.y_std + self.y_mean
        return lmp[0] if single else lmp

    def save(self, path: str | Path) -> Path:
        """Checkpoint (.npz + JSON header) with the config, weights, scalers and metrics."""
        arrays = torch_state_arrays("net", self.net.state_dict())
        arrays.update(x_mean=self.x_mean, x_std=self.x_std, y_mean=self.y_mean, y_std=self.y_std)
        return save_checkpoint(path, METHOD, self.config, arrays, self.metrics)

    @classmethod
    def load(cls, path: str | Path) -> PricePredictor:
        """Rebuild a predictor from :meth:`save`'s file (no pickle)."""
        header, arrays = load_checkpoint(path, METHOD)
        data = dict(header["config"])
        sampling = config_from(SamplingConfig, {"config": data.pop("sampling")})
        cfg = config_from(PriceGCNConfig, {"config": data})
        cfg = dataclasses.replace(cfg, sampling=sampling)
        adj = arrays["net/adj"]
        net = PriceGCN(adj, N_FEATURES, cfg.hidden, cfg.head_hidden)
        net.load_state_dict(torch_state_from("net", arrays))
        net.eval()
        scal = {k: arrays[k] for k in ("x_mean", "x_std", "y_mean", "y_std")}
        return cls(cfg, net, metrics=header.get("metrics", {}), **scal)


def lmp_errors(pred: np.ndarray, exact: np.ndarray) -> dict[str, float]:
    """MAE, p99 and max of |pred − exact| ($/MWh) over all states and buses, and the MAE
    relative to the spread of the exact prices across buses (what the GCN must resolve)."""
    err = np.abs(pred - exact)
    spread = float(np.mean(exact.max(axis=1) - exact.min(axis=1)))
    return {
        "lmp_mae_usd_per_mwh": float(err.mean()),
        "lmp_p99_usd_per_mwh": float(np.quantile(err, 0.99)),
        "lmp_max_usd_per_mwh": float(err.max()),
        "lmp_spread_usd_per_mwh": spread,
        "lmp_mae_over_spread": float(err.mean() / spread) if spread > 0 else float("nan"),
    }


def fit(config: PriceGCNConfig, dataset: PriceDataset | None = None, log=print) -> PricePredictor:
    """Build the dataset (unless given), train on (1 − test_fraction) of it, report metrics
    on the rest (:func:`lmp_errors`) and the time spent."""
    from dispatchlab import load_case

    rng = seed_everything(config.seed)
    t0 = time.perf_counter()
    if dataset is None:
        env_options = {"case": config.case, "n_units": config.n_units, "n_levels": config.n_levels}
        dataset = build_dataset(env_options, config.sampling, config.seed, config.workers)
    t_data = time.perf_counter() - t0
    # split by scenario (whole days): consecutive broadcasts of one day are near-duplicates
    episodes = rng.permutation(np.unique(dataset.episode))
    n_test = max(1, round(config.test_fraction * len(episodes)))
    is_test = np.isin(dataset.episode, episodes[:n_test])
    test, train = np.flatnonzero(is_test), np.flatnonzero(~is_test)
    if len(train) == 0:
        raise ValueError(
            f"the price GCN needs ≥ 2 sampled days to hold one out; got {len(episodes)} "
            "(raise sampling.episodes_per_setting)"
        )
    x, y = dataset.x, dataset.y
    x_mean, x_std = x[train].mean(axis=(0, 1)), x[train].std(axis=(0, 1)) + 1e-9
    y_mean, y_std = y[train].mean(axis=0), y[train].std(axis=0) + 1e-6
    case = load_case(config.case)
    net = PriceGCN(normalized_adjacency(case), N_FEATURES, config.hidden, config.head_hidden)
    _train(net, (x[train] - x_mean) / x_std, (y[train] - y_mean) / y_std, config, rng, log)
    net.eval()
    model = PricePredictor(config, net, x_mean, x_std, y_mean, y_std)
    metrics = lmp_errors(model.predict(x[test]), y[test])
    metrics.update(
        n_train=len(train),
        n_test=len(test),
        n_test_days=n_test,
        dataset_s=t_data,
        train_s=time.perf_counter() - t0 - t_data,
        baseline_mean_mae_usd_per_mwh=float(np.abs(y[test] - y_mean).mean()),
    )
    model.metrics = metrics
    return model


def _train(net, x, y, config: PriceGCNConfig, rng: np.random.Generator, log) -> None:
    xt, yt = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.float32)
    opt = torch.optim.Adam(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    n = len(xt)
    for epoch in range(config.epochs):
        perm = torch.as_tensor(rng.permutation(n))
        total = 0.0
        for start in range(0, n, config.batch_size):
            b = perm[start : start + config.batch_size]
            loss = nn.functional.mse_loss(net(xt[b]), yt[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(b)
        if log and (epoch + 1) % max(1, config.epochs // 5) == 0:
            log(f"price GCN epoch {epoch + 1}/{config.epochs}: mse {total / n:.4f}")


class GCNPriceModel:
    """The der-dispatch env's ``price_model`` hook: PriceState → predicted LMPs (S, bus).

    Keeps a :class:`PriceFeaturizer` (angle history) per instance: use one instance per
    environment. ``calls`` counts the broadcasts it priced.
    """

    def __init__(self, predictor: PricePredictor, case):
        self.predictor = predictor
        self.featurizer = PriceFeaturizer(case)
        self.calls = 0

    def __call__(self, state) -> np.ndarray:
        self.calls += 1
        return self.predictor.predict(self.featurizer(state))
