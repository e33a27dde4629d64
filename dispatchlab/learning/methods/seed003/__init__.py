"""seed003: MCTS-RL microgrids, DDMM and MLFACC DER selection for DRL-LP (docs/methods/seed003.md).

``config`` (one Seed003Config), ``partition`` (MCTS-RL), ``ddmm`` (merge/split), ``mlfacc``
(actors and critic), ``task`` (the market minutes), ``method`` (train, save/load, policy),
``compare`` (counterparts, certified alike), ``cli``, ``leaderboard``.
"""
