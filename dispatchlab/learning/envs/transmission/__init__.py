"""``transmission-dispatch`` (seed004): thermal, wind, storage and load agents on ieee30.

``env`` (the PettingZoo env and its vector form), ``core`` (system data, settlement), ``engine``
(stepping), ``obs`` (observations, global state), ``oracle`` (exact dispatch), ``labels`` (the
paper's normal / wind-volatility / congestion interval labels, which need a DC-OPF).
"""
