"""seed004 §2.4 privacy: the (ε, δ) of federated training and what a membership attack learns.

Accounting. Each federated round releases one Gaussian mechanism on the clipped client
updates (noise multiplier σ, client sampling rate q; :mod:`.federated`). ε after ``rounds``
rounds comes from opacus's RDP accountant (``opacus.accountants.RDPAccountant`` — asked for
by name: opacus's default accountant is PRV), which composes the subsampled-Gaussian RDP
curve over the rounds and converts it to (ε, δ)-DP with Balle et al. 2020, Thm 21:
ε = min_α RDP(α) + log((α−1)/α) − (log δ + log α)/(α−1). For one full-participation round
RDP(α) = α/(2σ²) (Mironov 2017, Prop. 7). The paper's setting (σ = 0.8, C = 1, 50 rounds,
all three clients every round) gives ε ≈ 80 at δ = 1e-5, not the 3.1 it reports:
:func:`calibrate` gives the σ (or q) that reach a target ε.

Membership inference. A trajectory's membership score is minus its loss under the released
model (the critic's TD error for seed004): members — days the model trained on — tend to have
smaller losses. :func:`loss_threshold_attack` thresholds that score (Yeom et al. 2018);
:func:`shadow_model_attack` trains a classifier on a shadow model's own members and
non-members (Shokri et al. 2017) and scores the target's. Both report ROC AUC and TPR at
10 % FPR (scikit-learn) with bootstrap CIs over the samples.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import brentq
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

__all__ = [
    "ALPHAS",
    "AttackResult",
    "calibrate",
    "check_privacy_params",
    "epsilon",
    "gaussian_rdp",
    "loss_threshold_attack",
    "rdp_to_dp",
    "shadow_model_attack",
]

#: RDP orders: opacus's default grid, extended to α = 1024 because ε ≤ 1 over 50 rounds needs
#: α ≈ 19 at q = 1 and larger orders at small q (opacus warns when the best α is the last)
ALPHAS: tuple[float, ...] = (
    *(1 + x / 10.0 for x in range(1, 100)),
    *range(12, 64),
    64,
    80,
    96,
    128,
    192,
    256,
    512,
    1024,
)


def check_privacy_params(
    *,
    sigma: float | None = None,
    clip: float | None = None,
    delta: float | None = None,
    sample_rate: float | None = None,
) -> None:
    """Raise ``ValueError`` naming the bad value: σ ≤ 0, C ≤ 0, δ ∉ (0, 1), q ∉ (0, 1]."""
    checks = (
        ("sigma (noise multiplier σ)", sigma, lambda v: v > 0, "> 0"),
        ("clip (clipping norm C)", clip, lambda v: v > 0, "> 0"),
        ("delta (δ)", delta, lambda v: 0 < v < 1, "in (0, 1)"),
        ("sample_rate (q)", sample_rate, lambda v: 0 < v <= 1, "in (0, 1]"),
    )
    for name, value, ok, want in checks:
        if value is None:
            continue
        if not isinstance(value, int | float) or not math.isfinite(value) or not ok(value):
            raise ValueError(f"{name} must be {want}, got {value!r}")


def gaussian_rdp(alpha: float, sigma: float) -> float:
    """RDP of one Gaussian mechanism with sensitivity 1 and noise σ at order α: α/(2σ²)."""
    check_privacy_params(sigma=sigma)
    return alpha / (2.0 * sigma**2)


def rdp_to_dp(rdp: float, alpha: float, delta: float) -> float:
    """ε of (α, rdp)-RDP at δ, by the conversion opacus uses (Balle et al. 2020, Thm 21)."""
    check_privacy_params(delta=delta)
    return rdp + math.log((alpha - 1) / alpha) - (math.log(delta) + math.log(alpha)) / (alpha - 1)


def epsilon(
    sigma: float | None, sample_rate: float, rounds: int, delta: float
) -> tuple[float, float]:
    """``(ε, best α)`` after ``rounds`` rounds of noise multiplier σ at client sampling rate q,
    from opacus's RDP accountant. ``sigma=None`` (no noise) gives ``(inf, nan)``."""
    check_privacy_params(sample_rate=sample_rate, delta=delta)
    if not isinstance(rounds, int) or rounds < 0:
        raise ValueError(f"rounds must be an integer ≥ 0, got {rounds!r}")
    if sigma is None:
        return math.inf, math.nan
    check_privacy_params(sigma=sigma)
    if rounds == 0:
        return 0.0, math.nan
    from opacus.accountants import RDPAccountant

    accountant = RDPAccountant()
    for _ in range(rounds):
        accountant.step(noise_multiplier=float(sigma), sample_rate=float(sample_rate))
    with warnings.catch_warnings():  # "optimal order is the largest alpha": ALPHAS is wide
        warnings.simplefilter("ignore", UserWarning)
        eps, alpha = accountant.get_privacy_spent(delta=delta, alphas=list(ALPHAS))
    return float(eps), float(alpha)


def calibrate(
    target_epsilon: float,
    *,
    rounds: int,
    delta: float,
    sample_rate: float | None = None,
    sigma: float | None = None,
    tol: float = 1e-3,
) -> dict[str, float]:
    """The σ (given q) or the q (given σ) at which ``rounds`` rounds spend ``target_epsilon``.

    ``target_epsilon = inf`` is the non-private run (no noise: σ = None, q as given or 1).
    Returns ``{"target_epsilon", "sigma", "sample_rate", "epsilon", "alpha"}``; ε is the
    accountant's at the returned values (≤ the target, within ``tol``)."""
    if (sample_rate is None) == (sigma is None):
        raise ValueError("calibrate: give exactly one of sample_rate (solve σ) or sigma (solve q)")
    check_privacy_params(delta=delta, sample_rate=sample_rate, sigma=sigma)
    if not target_epsilon > 0:
        raise ValueError(f"target_epsilon must be > 0, got {target_epsilon!r}")
    if math.isinf(target_epsilon):
        q = 1.0 if sample_rate is None else sample_rate
        return {"target_epsilon": math.inf, "sigma": math.nan, "sample_rate": q,
                "epsilon": math.inf, "alpha": math.nan}  # fmt: skip

    def gap_sigma(s: float) -> float:
        return epsilon(s, sample_rate, rounds, delta)[0] - target_epsilon

    def gap_q(q: float) -> float:
        return epsilon(sigma, q, rounds, delta)[0] - target_epsilon

    if sample_rate is not None:
        hi = 1.0
        while gap_sigma(hi) > 0:  # ε falls with σ: bracket the root
            hi *= 2.0
            if hi > 1e6:
                raise ValueError(f"no σ ≤ 1e6 reaches ε = {target_epsilon} in {rounds} rounds")
        s = brentq(gap_sigma, 1e-3, hi, xtol=tol) if gap_sigma(1e-3) > 0 else 1e-3
        s = _nudge(lambda v: gap_sigma(v) <= 0, s, up=True)
        q = sample_rate
    else:
        if gap_q(1.0) <= 0:
            q = 1.0
        else:
            q = brentq(gap_q, 1e-9, 1.0, xtol=1e-9)
            q = _nudge(lambda v: gap_q(v) <= 0, q, up=False)
        s = sigma
    eps, alpha = epsilon(s, q, rounds, delta)
    return {"target_epsilon": target_epsilon, "sigma": s, "sample_rate": q,
            "epsilon": eps, "alpha": alpha}  # fmt: skip


def _nudge(ok, value: float, *, up: bool) -> float:
    """Step a root off by rounding onto the side where ``ok`` holds (ε ≤ target)."""
    step = 1e-6 * max(abs(value), 1e-9)
    while not ok(value):
        value = value + step if up else value - step
        step *= 2
    return value


@dataclass(frozen=True)
class AttackResult:
    """A membership attack's success, with percentile bootstrap CIs (level ``ci``)."""

    attack: str
    auc: float
    auc_lo: float
    auc_hi: float
    tpr_at_10fpr: float
    tpr_lo: float
    tpr_hi: float
    n_members: int
    n_nonmembers: int
    ci: float

    def as_dict(self) -> dict:
        return asdict(self)


def _tpr_at(y: np.ndarray, score: np.ndarray, fpr_target: float) -> float:
    """TPR at ``fpr_target`` FPR, interpolated on the ROC curve (step ties resolved up)."""
    fpr, tpr, _ = roc_curve(y, score)
    return float(np.interp(fpr_target, fpr, tpr))


def _scores_result(attack, members, nonmembers, *, n_boot, ci, seed) -> AttackResult:
    members = np.asarray(members, float).ravel()
    nonmembers = np.asarray(nonmembers, float).ravel()
    if len(members) < 2 or len(nonmembers) < 2:
        raise ValueError(
            f"{attack}: need ≥ 2 members and ≥ 2 non-members, got {len(members)} and "
            f"{len(nonmembers)}"
        )
    for name, arr in (("member", members), ("non-member", nonmembers)):
        if not np.isfinite(arr).all():
            raise ValueError(f"{attack}: {name} scores contain NaN or inf")
    if n_boot < 1:
        raise ValueError(f"{attack}: n_boot (bootstrap resamples) must be ≥ 1, got {n_boot}")
    y = np.r_[np.ones(len(members)), np.zeros(len(nonmembers))]
    s = np.r_[members, nonmembers]
    rng = np.random.default_rng(seed)
    aucs, tprs = np.empty(n_boot), np.empty(n_boot)
    for b in range(n_boot):  # resample members and non-members apart: both classes stay
        bm = rng.choice(members, len(members))
        bn = rng.choice(nonmembers, len(nonmembers))
        bs = np.r_[bm, bn]
        aucs[b] = roc_auc_score(y, bs)
        tprs[b] = _tpr_at(y, bs, 0.10)
    lo, hi = 50 * (1 - ci), 50 * (1 + ci)
    return AttackResult(
        attack=attack,
        auc=float(roc_auc_score(y, s)),
        auc_lo=float(np.percentile(aucs, lo)),
        auc_hi=float(np.percentile(aucs, hi)),
        tpr_at_10fpr=_tpr_at(y, s, 0.10),
        tpr_lo=float(np.percentile(tprs, lo)),
        tpr_hi=float(np.percentile(tprs, hi)),
        n_members=len(members),
        n_nonmembers=len(nonmembers),
        ci=ci,
    )


def loss_threshold_attack(
    member_loss, nonmember_loss, *, n_boot: int = 1000, ci: float = 0.95, seed: int = 0
) -> AttackResult:
    """Yeom et al.'s attack: "member" when the loss is below a threshold; the ROC over all
    thresholds gives AUC and TPR at 10 % FPR. Losses are per sample (e.g. a day's mean
    squared critic TD error)."""
    return _scores_result(
        "loss_threshold",
        -np.asarray(member_loss, float),
        -np.asarray(nonmember_loss, float),
        n_boot=n_boot,
        ci=ci,
        seed=seed,
    )


def _features(x) -> np.ndarray:
    x = np.asarray(x, float)
    return x[:, None] if x.ndim == 1 else x


def shadow_model_attack(
    shadow_in,
    shadow_out,
    target_in,
    target_out,
    *,
    n_boot: int = 1000,
    ci: float = 0.95,
    seed: int = 0,
) -> AttackResult:
    """Shokri et al.'s attack: a logistic regression learns "member" from the features
    (rows: samples; e.g. loss statistics per trajectory) of a shadow model's own training
    samples (``shadow_in``) against samples it never saw (``shadow_out``), then scores the
    target model's members (``target_in``) and non-members (``target_out``)."""
    s_in, s_out = _features(shadow_in), _features(shadow_out)
    t_in, t_out = _features(target_in), _features(target_out)
    if len({a.shape[1] for a in (s_in, s_out, t_in, t_out)}) != 1:
        raise ValueError("shadow_model_attack: every feature matrix needs the same columns")
    attack = make_pipeline(StandardScaler(), LogisticRegression(C=1.0))
    attack.fit(np.r_[s_in, s_out], np.r_[np.ones(len(s_in)), np.zeros(len(s_out))])
    return _scores_result(
        "shadow_model",
        attack.decision_function(t_in),
        attack.decision_function(t_out),
        n_boot=n_boot,
        ci=ci,
        seed=seed,
    )
