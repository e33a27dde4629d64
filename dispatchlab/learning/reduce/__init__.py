"""Learned reductions of exact solvers, each with a certificate (docs/reduce.md)."""
