"""seed002 §2.2: the probabilistic neural network (Specht 1990) that predicts the other agents'
next actions, and its regression sibling that predicts node voltages.

A PNN is a Parzen-window Bayes classifier with four layers: the input (the joint state x,
standardized), the pattern layer (one Gaussian unit per stored example x_j of class k), the
summation layer (eq. 3, the class density)

    f_k(x) = 1 / ((2π)^{d/2} σ^d M_k) · Σ_{j ∈ k} exp(−‖x − x_j‖² / (2σ²)),

and the decision layer (eq. 4 with equal losses): P(k | x) = π_k f_k(x) / Σ_l π_l f_l(x) with
priors π_k = M_k / M, so P(k | x) ∝ Σ_{j ∈ k} exp(−‖x − x_j‖² / (2σ²)). With σ = 0.1 on
standardized states of a few dozen dimensions the kernels underflow in float64, so the sums are
taken in the log domain (log-sum-exp); far from every pattern the PNN then becomes the nearest
neighbour's class, which is its σ → 0 limit. Learning examples are added to the pattern layer
as they come (§2.2: "each learning example is continuously added to the corresponding group");
the newest ``capacity`` are kept. scikit-learn has no PNN, hence this vectorized numpy.

:class:`ParzenRegressor` is the same kernel as a Nadaraya–Watson (GRNN) regression: it predicts
the next step's node voltages from the joint state, the number behind the paper's claim
"prediction error MAE < 0.01 p.u." (the paper prints no model for it).
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp


class _Patterns:
    """Stored standardized patterns (newest ``capacity``) and the scaler fitted on the first."""

    def __init__(self, width: int, sigma: float, capacity: int):
        if sigma <= 0 or capacity < 1 or width < 1:
            raise ValueError(
                f"PNN needs sigma > 0, capacity ≥ 1, width ≥ 1; got {sigma}, {capacity}, {width}"
            )
        self.width, self.sigma, self.capacity = int(width), float(sigma), int(capacity)
        self.x = np.zeros((0, self.width))
        self.mean = np.zeros(self.width)
        self.std = np.ones(self.width)
        self.fitted = False

    def check(self, x: np.ndarray, what: str = "state") -> np.ndarray:
        x = np.atleast_2d(np.asarray(x, float))
        if x.ndim != 2 or x.shape[1] != self.width:
            raise ValueError(
                f"PNN {what} has width {x.shape[-1]}, the PNN was built for width {self.width}"
            )
        return x

    def scale(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mean) / self.std

    def add(self, x: np.ndarray) -> np.ndarray:
        """Standardize (the scaler is fitted on the first batch) and keep the newest."""
        if not self.fitted:
            self.mean = x.mean(axis=0)
            self.std = np.where(x.std(axis=0) > 1e-9, x.std(axis=0), 1.0)
            self.fitted = True
        self.x = np.concatenate([self.x, self.scale(x)])[-self.capacity :]
        return self.x

    def log_kernel(self, x: np.ndarray) -> np.ndarray:
        """(B, M) −‖x − x_j‖² / (2σ²) for standardized patterns x_j."""
        z = self.scale(x)
        d2 = (z**2).sum(1)[:, None] - 2 * z @ self.x.T + (self.x**2).sum(1)[None, :]
        return -np.maximum(d2, 0.0) / (2 * self.sigma**2)


class PNN:
    """Parzen-window classifier of ``n_classes`` classes over states of ``width`` features."""

    def __init__(self, width: int, n_classes: int, sigma: float = 0.1, capacity: int = 2_000):
        if n_classes < 2:
            raise ValueError(f"PNN needs ≥ 2 classes, got {n_classes}")
        self.patterns = _Patterns(width, sigma, capacity)
        self.n_classes = int(n_classes)
        self.labels = np.zeros(0, np.int64)

    @property
    def width(self) -> int:
        return self.patterns.width

    def __len__(self) -> int:
        return len(self.labels)

    def add(self, x: np.ndarray, labels: np.ndarray) -> None:
        """Add examples (B, width) with their classes (B,) to the pattern layer."""
        x = self.patterns.check(x)
        labels = np.asarray(labels, np.int64).reshape(-1)
        if (
            len(labels) != len(x)
            or labels.min(initial=0) < 0
            or labels.max(initial=0) >= self.n_classes
        ):
            raise ValueError(
                f"PNN labels must be {len(x)} integers in 0…{self.n_classes - 1}, got {labels}"
            )
        self.patterns.add(x)
        self.labels = np.concatenate([self.labels, labels])[-self.patterns.capacity :]

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """(B, n_classes) P(class | x) (eq. 3–5); uniform before the first example."""
        x = self.patterns.check(x)
        if len(self) == 0:
            return np.full((len(x), self.n_classes), 1.0 / self.n_classes)
        logk = self.patterns.log_kernel(x)
        out = np.full((len(x), self.n_classes), -np.inf)
        for k in np.unique(self.labels):  # summation layer: one log-sum-exp per class
            out[:, k] = logsumexp(logk[:, self.labels == k], axis=1)
        out -= out.max(axis=1, keepdims=True)
        p = np.exp(out)
        return p / p.sum(axis=1, keepdims=True)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """(B,) the Bayes decision (eq. 4, equal losses): the most probable class."""
        return self.predict_proba(x).argmax(axis=1)

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        p = self.patterns
        return {
            f"{prefix}/patterns": p.x,
            f"{prefix}/labels": self.labels,
            f"{prefix}/mean": p.mean,
            f"{prefix}/std": p.std,
        }

    def load_arrays(self, prefix: str, arrays: dict[str, np.ndarray]) -> None:
        p = self.patterns
        p.x, self.labels = arrays[f"{prefix}/patterns"], arrays[f"{prefix}/labels"]
        p.mean, p.std, p.fitted = arrays[f"{prefix}/mean"], arrays[f"{prefix}/std"], True


class ParzenRegressor:
    """The PNN's kernel as a regression (Nadaraya–Watson / GRNN): ŷ(x) = Σ w_j y_j / Σ w_j."""

    def __init__(self, width: int, sigma: float = 0.1, capacity: int = 2_000):
        self.patterns = _Patterns(width, sigma, capacity)
        self.y = np.zeros((0, 0))

    def add(self, x: np.ndarray, y: np.ndarray) -> None:
        x = self.patterns.check(x)
        y = np.atleast_2d(np.asarray(y, float))
        self.patterns.add(x)
        self.y = (y if self.y.size == 0 else np.concatenate([self.y, y]))[-self.patterns.capacity :]

    def predict(self, x: np.ndarray) -> np.ndarray:
        x = self.patterns.check(x)
        if len(self.y) == 0:
            raise ValueError("ParzenRegressor: no patterns stored yet (call add first)")
        logk = self.patterns.log_kernel(x)
        w = np.exp(logk - logk.max(axis=1, keepdims=True))
        return (w @ self.y) / w.sum(axis=1, keepdims=True)
