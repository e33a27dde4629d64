"""Backends: who solves a LinearModel (highspy direct, Pyomo)."""
