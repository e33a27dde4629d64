"""seed002: PNN-assisted multi-agent actor-critic with prediction–decision–regulation on
``voltage-control-discrete`` (Lin et al. 2026, PLoS One 21(4) e0346570); docs/methods/seed002.md."""
