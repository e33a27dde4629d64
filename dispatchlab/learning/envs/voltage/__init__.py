"""``voltage-control`` (seed001, continuous) and ``voltage-control-discrete`` (seed002).

``env`` and ``core`` (continuous), ``discrete`` and ``discrete_core`` (OLTC, capacitors, SVG),
``common`` (profiles, shared env plumbing), ``pf`` (radial power flow), ``costs``, ``oracle``
(the step OPF).
"""
