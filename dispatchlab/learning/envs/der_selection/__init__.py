"""``der-selection`` (seed003): microgrid agents pick DERs; the chosen set is dispatched by the LP.

``env`` (the PettingZoo env), ``vector`` (its vector form), ``lp`` (zones and the DRL-LP, the
oracle's solver).
"""
