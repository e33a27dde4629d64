"""seed004 (DGCN + MASRL + federated RDP + causal analysis on ieee30-seed004)."""
