"""``der-dispatch`` (seed000): PV, storage and flexible-load aggregators on a feeder.

``env`` (the PettingZoo env and its vector form), ``config``, ``units``, ``grid`` (series, power
flow), ``core`` (the batched engine and the day-ahead plan), ``prices`` (DLMP LP), ``oracle``.
"""
