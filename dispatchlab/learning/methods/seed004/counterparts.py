"""Three more counterparts of seed004 (issue 18): interval-uncertainty OPF, DeepOPF, LSTM.

* :func:`interval_opf_policy` — **interval-uncertainty OPF**, per interval, on the env's exact
  interval model (:func:`~dispatchlab.learning.envs.transmission.oracle.build_interval_model`:
  DC-OPF with PTDF line limits, ramp windows, SOC, reserves of units and storage) with the
  wind availability *not* known: only the interval [lo, hi] = forecast ± z·σ·capacity
  (σ = the env's ``forecast_sigma``, z = 1.645: a 90 % interval, clipped to [0, capacity]).
  The schedule is robust to both ends: the wind the dispatch may count on is ``lo`` (the units
  and storage cover the rest of the load when the wind comes at its low end), and the
  down-reserve must also cover the swing Σ (hi − lo) (units able to back down when it comes at
  its high end, instead of spilling it). The unit outputs and storage power of that schedule
  are played by :func:`~.foresight.play_plan` on the realized wind, as ``cc-sced`` is.
* :func:`train_deepopf` — **DeepOPF-style MLP** (scikit-learn ``MLPRegressor``, 2 × 128 ReLU):
  env global state (119 features, standardized) → the oracle's normalized actions of all
  13 agents, trained on the oracle's dispatch of the first ``days`` training days. Its output
  (clipped to [−1, 1]) is a proposal; compare plays it through the transmission safety layer
  (``deepopf``, repairs counted) and without it (``deepopf-raw``, violations counted).
* :func:`train_lstm` — **LSTM forecast-then-dispatch**: a 1-layer torch LSTM (32 units) forecasts
  each wind plant's availability of the current interval from the realized wind of the
  ``lookback`` intervals before it (per unit of capacity, plus the time of day), as a change
  from the last realized value (a learned correction of persistence); the exact
  interval dispatch is solved with that forecast in place of the realized wind, mapped to
  actions by the oracle's ``actions_from_solution`` (wind set-points relative to the realized
  availability), and played through the safety layer, which repairs the mismatch the forecast
  error leaves. Loads are the realized ones, as in the look-ahead ED.
"""

from __future__ import annotations

import numpy as np

from dispatchlab.learning.envs.transmission.engine import KINDS
from dispatchlab.learning.envs.transmission.oracle import (
    actions_from_solution,
    build_interval_model,
    solve_interval,
)
from dispatchlab.solvers.status import Status

Z_90 = 1.645  #: two-sided 90 % normal quantile of the wind interval


def _by_agent(engine, acts: dict) -> dict[str, np.ndarray]:
    agents = engine.agents
    return {n: np.asarray(acts[k][i], float) for k in KINDS for i, n in enumerate(agents[k])}


def interval_model(engine, wind_mw: np.ndarray, extra_reserve_dn_mw: float = 0.0):
    """(model, data) of the current interval with the wind availability ``wind_mw`` (per
    plant) in place of the realized one and the down-reserve requirement raised by
    ``extra_reserve_dn_mw``."""
    st = engine.state
    m, d = build_interval_model(engine.problem, int(st.t[0]), st.p_prev[0], st.soc[0])
    kinds = np.asarray(d.ders["kind"])
    der = m.var_blocks["der_p_mw"]
    ub = m.ub[der.positions]
    ub[kinds == "wind"] = np.maximum(np.asarray(wind_mw, float), 0.0)
    m.set_var_bounds("der_p_mw", ub=ub)
    if extra_reserve_dn_mw > 0:
        blocks = ("gen_reserve_down_mw", "storage_reserve_down_mw", "reserve_shortfall_down_mw")
        cols = np.concatenate([m.var_blocks[b].positions for b in blocks])
        req = engine.sys.reserve_dn + extra_reserve_dn_mw
        m.add_cons("robust_reserve_down", [-1], np.zeros(cols.size, int), cols, 1.0, lb=req)
    return m, d


def wind_interval(engine, z: float = Z_90) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi) MW per wind plant of the current interval: forecast ± z·σ·capacity."""
    t = int(engine.state.t[0])
    cap = engine.sys.wind_cap
    half = z * engine.config.forecast_sigma * cap
    fc = engine.forecast[t]
    return np.clip(fc - half, 0.0, cap), np.clip(fc + half, 0.0, cap)


def interval_opf_policy(z: float = Z_90):
    """Robust per-interval dispatch against the wind interval (module docstring)."""
    from dispatchlab.learning.methods.seed004.foresight import oracle_policy, play_plan

    def decide(env, obs):
        eng = env.engine
        lo, hi = wind_interval(eng, z)
        m, _ = interval_model(eng, lo, float(np.sum(hi - lo)))
        sol = solve_interval(m)
        acts = None
        if sol.status is Status.OPTIMAL and np.all(np.isfinite(sol.x)):
            g, s = len(eng.sys.gen_ids), len(eng.sys.sto_ids)
            v = {b: sol.x[m.var_blocks[b].positions] for b in m.var_blocks}
            plan = {"gen_p_mw": v["gen_p_mw"][:g],
                    "storage_charge_mw": v["storage_charge_mw"][:s],
                    "storage_discharge_mw": v["storage_discharge_mw"][:s]}  # fmt: skip
            acts = play_plan(eng, plan)
        if acts is None:
            decide.fallbacks += 1
            return oracle_policy(env, obs)
        return _by_agent(eng, acts)

    decide.fallbacks = 0
    return decide


# ----------------------------------------------------------------------------- DeepOPF
def oracle_samples(env, days: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """(global states, oracle actions concatenated in ``possible_agents`` order) of the oracle
    playing ``days``."""
    from dispatchlab.learning.methods.seed004.foresight import oracle_policy

    xs, ys = [], []
    for day in days:
        obs, _ = env.reset(options={"day": int(day)})
        while env.agents:
            act = oracle_policy(env, obs)
            xs.append(env.state().astype(float))
            ys.append(np.concatenate([act[a] for a in env.possible_agents]))
            obs, *_ = env.step(act)
    return np.asarray(xs), np.asarray(ys)


def train_deepopf(case, days: int = 5, seed: int = 0, max_iter: int = 300):
    """The DeepOPF MLP, trained on the oracle's dispatch of the first ``days`` training days;
    returns the policy callable (``.train_s``, ``.fit_mae``: mean absolute action error on
    its training set)."""
    import time

    from sklearn.neural_network import MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from dispatchlab.learning.envs.transmission.env import TransmissionDispatchEnv

    t0 = time.perf_counter()
    env = TransmissionDispatchEnv(case=case, split="train")
    x, y = oracle_samples(env, [int(d) for d in env.days[:days]])
    mlp = MLPRegressor(
        hidden_layer_sizes=(128, 128), learning_rate_init=1e-3, max_iter=max_iter, random_state=seed
    )
    model = make_pipeline(StandardScaler(), mlp).fit(x, y)
    sizes = [env.action_space(a).shape[0] for a in env.possible_agents]
    cuts = np.cumsum(sizes)[:-1]

    def decide(env, obs):
        out = np.clip(model.predict(env.state()[None].astype(float))[0], -1.0, 1.0)
        return dict(zip(env.possible_agents, np.split(out, cuts), strict=True))

    decide.train_s = time.perf_counter() - t0
    decide.fit_mae = float(np.mean(np.abs(np.clip(model.predict(x), -1, 1) - y)))
    decide.samples = len(x)
    return decide


# -------------------------------------------------------------------- LSTM forecast-dispatch
def _lstm_windows(sys, steps: int, ends: np.ndarray, lookback: int) -> np.ndarray:
    """(len(ends), lookback, W + 2) inputs: the wind per capacity of the ``lookback``
    intervals before each end, and the time of day (sin, cos)."""
    w = sys.wind_mw / sys.wind_cap
    k = np.arange(len(w)) % steps
    feats = np.c_[w, np.sin(2 * np.pi * k / steps), np.cos(2 * np.pi * k / steps)]
    idx = np.maximum(ends[:, None] - lookback + np.arange(lookback)[None, :], 0)
    return feats[idx]


def train_lstm(case, lookback: int = 16, hidden: int = 32, epochs: int = 30, seed: int = 0):
    """The wind LSTM (module docstring), trained on the training split, and its policy;
    ``.mae_mw`` / ``.persistence_mae_mw`` / ``.env_forecast_mae_mw``: mean absolute error of
    the current interval's wind per plant over the validation days (MW)."""
    import time

    import torch

    from dispatchlab.learning.envs.transmission.env import TransmissionDispatchEnv
    from dispatchlab.learning.methods.seed004.foresight import oracle_policy

    torch.set_num_threads(1)
    torch.manual_seed(seed)
    t0 = time.perf_counter()
    env = TransmissionDispatchEnv(case=case, split="train")
    sys, steps = env.engine.sys, env.engine.steps
    ends = np.concatenate([np.arange(d * steps, (d + 1) * steps) for d in env.days])
    ends = ends[ends >= lookback]
    x = torch.tensor(_lstm_windows(sys, steps, ends, lookback), dtype=torch.float32)
    # the target is the change from the last realized interval (a persistence residual)
    y = torch.tensor((sys.wind_mw[ends] - sys.wind_mw[ends - 1]) / sys.wind_cap,
                     dtype=torch.float32)  # fmt: skip
    lstm = torch.nn.LSTM(x.shape[-1], hidden, batch_first=True)
    head = torch.nn.Linear(hidden, y.shape[1])
    params = [*lstm.parameters(), *head.parameters()]
    opt = torch.optim.Adam(params, lr=3e-3)
    gen = torch.Generator().manual_seed(seed)

    def predict(xb: torch.Tensor) -> torch.Tensor:
        out, _ = lstm(xb)
        return head(out[:, -1])

    for _ in range(epochs):
        for batch in torch.randperm(len(x), generator=gen).split(256):
            loss = torch.nn.functional.mse_loss(predict(x[batch]), y[batch])
            opt.zero_grad()
            loss.backward()
            opt.step()

    def forecast_mw(ends: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            xb = torch.tensor(_lstm_windows(sys, steps, ends, lookback), dtype=torch.float32)
            last = sys.wind_mw[ends - 1] / sys.wind_cap
            return np.clip(last + predict(xb).numpy(), 0.0, 1.0) * sys.wind_cap

    def decide(env, obs):
        eng = env.engine
        st = eng.state
        m, d = interval_model(eng, forecast_mw(np.array([int(st.t[0])]))[0])
        sol = solve_interval(m)
        if sol.status is not Status.OPTIMAL or not np.all(np.isfinite(sol.x)):
            decide.fallbacks += 1
            return oracle_policy(env, obs)
        acts, _ = actions_from_solution(m, sol, d, eng.sys, st.p_prev[0], st.soc[0])
        return _by_agent(eng, acts)

    decide.fallbacks = 0
    decide.train_s = time.perf_counter() - t0
    val = TransmissionDispatchEnv(case=case, split="validation").days
    v_ends = np.concatenate([np.arange(d * steps, (d + 1) * steps) for d in val])
    real = sys.wind_mw[v_ends]
    decide.mae_mw = float(np.mean(np.abs(forecast_mw(v_ends) - real)))
    decide.persistence_mae_mw = float(np.mean(np.abs(sys.wind_mw[v_ends - 1] - real)))
    decide.env_forecast_mae_mw = float(np.mean(np.abs(env.engine.forecast[v_ends] - real)))
    return decide
