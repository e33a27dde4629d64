"""Importing this module warms a worker up: every dispatch problem is registered (which imports
cvxpy, pyomo …, several seconds), so that workers forked from a preloaded forkserver start warm.
Task functions name it in their ``preload`` attribute (see ``tasks.solve_scaled_load``)."""

from dispatchlab.solvers.api import import_problems

PROBLEMS = import_problems()
