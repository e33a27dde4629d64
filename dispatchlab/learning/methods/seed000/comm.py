"""The messages of one dispatch cycle, serialized for real, for seed000's communication study.

seed000 §3.5 / Table 4 compares the bytes exchanged per 15-s cycle by the hierarchical
architecture (the regional agent broadcasts the LMP vector; each edge controller uploads a
small status) with "full-state collection" by a central optimizer (every unit sends its full
local state; the centre sends every unit its set-point). The paper gives no message format, so
we fix one and count the bytes of the messages actually built:

* ``binary``: little-endian packed records (numpy structured arrays, ``tobytes()``), float32
  values, uint32 unit ids, one uint32 sequence number + float64 timestamp header per message;
* ``json``: the same fields as JSON text (UTF-8), the format a REST/MQTT deployment would
  likely use.

Both architectures also need the feeder measurements (P, Q, |V|, θ per bus) at the regional
agent / centre; they are counted in both (``bus_measurements``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

HEADER = np.dtype([("seq", "<u4"), ("time_s", "<f8")])
#: a realistic Unix time with a sub-second part: in JSON the digits of the timestamp count
TIME_S = 1_764_633_600.25
UPLOAD = np.dtype([("unit", "<u4"), ("p_mw", "<f4"), ("soc", "<f4")])  # hierarchical status
FULL_STATE = np.dtype(  # what a central optimizer needs of each unit every cycle
    [
        ("unit", "<u4"),
        ("p_mw", "<f4"),
        ("p_min_mw", "<f4"),
        ("p_max_mw", "<f4"),
        ("soc", "<f4"),
        ("energy_mwh", "<f4"),
        ("forecast_mw", "<f4"),
    ]
)
SETPOINT = np.dtype([("unit", "<u4"), ("p_mw", "<f4")])
BUS_MEAS = np.dtype([("p_mw", "<f4"), ("q_mvar", "<f4"), ("vm_pu", "<f4"), ("va_deg", "<f4")])


@dataclass(frozen=True)
class CycleBytes:
    """Bytes of one cycle, by message family, for both architectures."""

    lmp_broadcast: int
    uploads: int
    bus_measurements: int
    full_state: int
    setpoints: int

    @property
    def hierarchical(self) -> int:
        return self.lmp_broadcast + self.uploads + self.bus_measurements

    @property
    def centralized(self) -> int:
        return self.full_state + self.setpoints + self.bus_measurements


def _binary(records: np.ndarray, seq: int) -> bytes:
    head = np.array([(seq, TIME_S)], HEADER).tobytes()
    return head + records.tobytes()


def _json(records: np.ndarray, seq: int) -> bytes:
    rows = [{k: r[k].item() for k in records.dtype.names} for r in records]
    return json.dumps({"seq": seq, "time_s": TIME_S, "records": rows}).encode()


def cycle_bytes(n_units: int, n_bus: int, fmt: str = "binary", seed: int = 0) -> CycleBytes:
    """Serialize one cycle's messages for ``n_units`` units on ``n_bus`` buses and count them.

    Values are random (they do not change the binary size; in JSON the digits of a float do,
    so realistic magnitudes are drawn). The LMP vector is one broadcast message; every upload,
    state report and set-point is one message per unit (its own header).
    """
    if fmt not in ("binary", "json"):
        raise ValueError(f"fmt must be 'binary' or 'json', got {fmt!r}")
    enc = _binary if fmt == "binary" else _json
    rng = np.random.default_rng(seed)

    def recs(dtype, n):
        out = np.zeros(n, dtype)
        for name in dtype.names:
            if name == "unit":
                out[name] = np.arange(n)
            else:
                out[name] = rng.uniform(0.0, 1.0, n)
        return out

    lmp = np.zeros(n_bus, [("lmp_usd_per_mwh", "<f4")])
    lmp["lmp_usd_per_mwh"] = rng.uniform(19.0, 23.0, n_bus)
    per_unit = lambda dtype: sum(len(enc(r[None], i)) for i, r in enumerate(recs(dtype, n_units)))  # noqa: E731
    return CycleBytes(
        lmp_broadcast=len(enc(lmp, 0)),
        uploads=per_unit(UPLOAD),
        bus_measurements=len(enc(recs(BUS_MEAS, n_bus), 0)),
        full_state=per_unit(FULL_STATE),
        setpoints=per_unit(SETPOINT),
    )
