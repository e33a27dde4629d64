"""Distribution test feeders (the entries ``ieee33`` and ``ieee123`` of the case library).

* :func:`build_ieee123` — a balanced, positive-sequence equivalent of the IEEE 123-node test
  feeder (IEEE PES Distribution System Analysis Subcommittee), read from the OpenDSS files
  shipped in ``dispatchlab/cases/data/ieee123`` (module :mod:`dispatchlab.cases.ieee123`).
* :func:`build_ieee33` — the 33-bus feeder of M. E. Baran and F. F. Wu (IEEE Trans. Power
  Delivery 4(2), 1989) from MATPOWER's ``case33bw.m`` (module :mod:`dispatchlab.cases.ieee33`).
"""

from dispatchlab.cases.ieee33 import build_ieee33
from dispatchlab.cases.ieee123 import build_ieee123

__all__ = ["build_ieee33", "build_ieee123"]
