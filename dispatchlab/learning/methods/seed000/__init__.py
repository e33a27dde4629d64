"""seed000: GCN price prediction + Dueling-DQN edge controllers for DER dispatch.

``method`` (config, training, the policy), ``price_gcn`` and ``price_data`` (the regional price
agent), ``comm`` (message sizes), ``compare`` (the exact counterparts), ``cli`` (train/compare).
"""
