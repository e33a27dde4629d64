"""AC network model shared by the AC-OPF and the batched power flow."""

from dispatchlab.solvers.ac.network import ACNetwork, ac_network

__all__ = ["ACNetwork", "ac_network"]
