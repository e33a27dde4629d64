"""Radial distribution feeders: branch-flow (DistFlow) data, cvxpy models and AC checks.

:mod:`.feeder` reads a Case into arrays, :mod:`.model` builds the DistFlow SOCP / LinDistFlow
LP once with cvxpy Parameters, :mod:`.objectives` holds the objectives (including seed001's
voltage-security cost) and :mod:`.verify` rounds discrete devices and checks every solution by
an AC power flow. The user entry point is ``dispatchlab.solve(case, "distflow")``
(:mod:`dispatchlab.solvers.problems.distflow`).
"""
