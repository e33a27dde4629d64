"""MLFACC: multi leader–follower actors under one centralized attention critic (seed003 §III-C).

k actor networks pick a microgrid's k DERs in leader–follower order: actor 0 (the leader)
picks first, actor r sees the picks of actors 0 … r−1 (their mean features and each
candidate's electrical distance to them) and cannot pick them again (masked: overlapping picks
are impossible, not merely penalized). All microgrids are served by the same k actors in one
batched pass; a DER outside the microgrid has logit −∞.

One critic estimates the value of the scenario from every DER's features through attention
(a learned query over the DER tokens), the centralized critic of §III-C. The reward
(eq. 22) is a sum over the selected DERs of their loss-adjusted value, so each pick is credited
with its own DER's term, (λ0 (1 − LF_i) − c_i) Δp_i (:meth:`~.task.Seed003Task.reward`); each
episode is one scenario minute, so the TD target of eq. 17 is the reward itself and the
advantage Â = r − v̂(s) (eq. 18).

**Tracing constraint (eq. 21).** A follower's loss adds μ · Σ_L max(π_F(a_L), Ψ): the
follower's *unmasked* probability of a leader's pick a_L is pushed down whenever it exceeds
the relaxation factor Ψ (an action probability, as in the paper). Ψ starts at
``relaxation`` and decays linearly to 0 ("once the leader finds a proper trajectory the
relaxation factor vanishes"), after which the penalty always acts, so followers learn to
rank "the next-best DER" rather than lean on the mask.

Why not ``learning.agents.OnPolicyAgent(algo="a2c")``: that agent samples one categorical per
agent from a fixed, padded action space with a MultiAgentMLP critic over observations; MLFACC
needs an autoregressive chain of k categoricals over a zone whose membership changes every
step (DDMM), a penalty on the follower's unmasked distribution, and an attention critic over a
variable set of DERs. None of these is a configuration of TorchRL's ``A2CLoss``; the A2C update
itself is the three lines of :meth:`MLFACC.loss`.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

NEG = -1e9  # logit of a forbidden DER (finite: softmax of an all-forbidden row stays defined)


def _mlp(n_in: int, hidden: int, n_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(n_in, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(),
        nn.Linear(hidden, n_out),
    )  # fmt: skip


class AttentionCritic(nn.Module):
    """v̂(s): a learned query attends over the DER tokens; the pooled token gives the value."""

    def __init__(self, n_feat: int, hidden: int):
        super().__init__()
        self.embed = _mlp(n_feat, hidden, hidden)
        self.query = nn.Parameter(torch.zeros(hidden))
        self.head = _mlp(hidden, hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (n_der, F) -> ()
        tokens = self.embed(x)
        weights = torch.softmax(tokens @ self.query / tokens.shape[1] ** 0.5, dim=0)
        return self.head(weights @ tokens).squeeze(-1)


class MLFACC(nn.Module):
    """k leader–follower actors and the attention critic (module docstring)."""

    def __init__(self, n_feat: int, k: int, hidden: int):
        super().__init__()
        self.k, self.n_feat = k, n_feat
        # actor r sees [own features, mean features of earlier picks, distance to them]
        self.actors = nn.ModuleList(_mlp(2 * n_feat + 1, hidden, 1) for _ in range(k))
        self.critic = AttentionCritic(n_feat, hidden)

    def forward_picks(
        self,
        x: torch.Tensor,
        groups: np.ndarray,
        dist: torch.Tensor,
        *,
        greedy: bool,
        generator: torch.Generator | None = None,
    ) -> dict:
        """Picks (zones × k DER positions) in leader–follower order, with the log-probability,
        entropy and tracing terms of the sampled chain (kept for :meth:`loss`)."""
        zones = np.unique(groups)
        member = torch.as_tensor(groups[None, :] == zones[:, None])  # zones × n_der
        picked = torch.zeros_like(member)
        ctx = torch.zeros(len(zones), x.shape[0], self.n_feat + 1)
        picks, logp, ent, trace = [], [], 0.0, []
        rows = torch.arange(len(zones))
        total = torch.zeros(len(zones), self.n_feat)
        near = torch.full((len(zones), x.shape[0]), float("inf"))
        for r, actor in enumerate(self.actors):
            inp = torch.cat([x.expand(len(zones), -1, -1), ctx], dim=-1)
            raw = actor(inp).squeeze(-1).masked_fill(~member, NEG)
            if r > 0:  # eq. 21: the follower's unmasked probability of its leaders' picks
                trace.append((torch.softmax(raw, -1) * picked).sum(-1))
            logits = raw.masked_fill(picked, NEG)
            dist_r = torch.distributions.Categorical(logits=logits, validate_args=False)
            if greedy:
                a = logits.argmax(-1)
            else:
                a = torch.multinomial(dist_r.probs, 1, generator=generator).squeeze(-1)
            logp.append(dist_r.log_prob(a))
            ent = ent + dist_r.entropy().sum()
            picks.append(a)
            picked = picked.clone()
            picked[rows, a] = True
            if r == self.k - 1:
                break  # the last follower: no one reads the context
            total = total + x[a]  # running mean features / nearest distance of the picks so far
            near = torch.minimum(near, dist[a])
            mean = total / (r + 1)
            ctx = torch.cat([mean[:, None].expand(-1, x.shape[0], -1), near[..., None]], dim=-1)
        return {
            "picks": torch.stack(picks, dim=1).numpy(),
            "zones": zones,
            "logp": torch.stack(logp, dim=1),  # zones × k
            "entropy": ent,
            "trace": torch.stack(trace) if trace else torch.zeros(0),
        }

    def loss(self, outs: list[dict], values: torch.Tensor, rewards: list, psi: float, cfg):
        """A2C loss of a batch of scenarios (eqs. 17–21) and its tracing part.

        ``rewards[b]`` (zones × k) credits each pick with its own DER's term of eq. 22 (the
        reward is a sum over the selected DERs); the critic's v̂(s) estimates their mean and
        is the baseline of every pick, Â = r − v̂(s) (eq. 17), normalized over the batch."""
        r = [torch.as_tensor(np.asarray(x), dtype=torch.float32) for x in rewards]
        adv = torch.cat([(x - v.detach()).ravel() for x, v in zip(r, values, strict=True)])
        adv = (adv - adv.mean()) / (adv.std() + 1e-6) if len(adv) > 1 else adv
        logp = torch.cat([o["logp"].ravel() for o in outs])
        ent = torch.stack([o["entropy"] for o in outs])
        trace = torch.stack([torch.clamp(o["trace"], min=psi).mean() for o in outs])
        actor = -(logp * adv).mean() - cfg.entropy * ent.mean()
        tracing = cfg.tracing_mu * trace.mean()
        target = torch.stack([x.mean() for x in r])
        critic = ((target - values) ** 2).mean()
        return actor + tracing + 0.5 * critic, float(tracing.detach())


def relaxation_at(episode: int, cfg) -> float:
    """Ψ after ``episode`` training episodes: linear decay to 0 over ``relaxation_decay``."""
    span = max(1.0, cfg.relaxation_decay * cfg.episodes)
    return float(cfg.relaxation * max(0.0, 1.0 - episode / span))
