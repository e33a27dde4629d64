"""The Case: an immutable, validated power-system case (tables + attached time series).

A Case is built once, validated on construction (every problem is reported at once, see
:class:`CaseValidationError`) and never changes afterwards: its tables are handed out as copies
(edit a copy, then ``case.replace(buses=edited)``), and every variant
(:meth:`Case.with_ders`, :meth:`Case.at`, :meth:`Case.replace` …) returns a new Case.
Solvers take a Case and never mutate it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from dispatchlab.cases.schema import TABLES
from dispatchlab.cases.tables import freeze, normalize_table
from dispatchlab.cases.validation import CaseValidationError, validate_tables

#: Time-series frames a Case may carry: key -> (table whose ids are the columns, column set)
SERIES_KEYS: dict[str, tuple[str, str]] = {
    "load_p_mw": ("loads", "p_mw"),
    "load_q_mvar": ("loads", "q_mvar"),
    "der_p_max_mw": ("ders", "p_max_mw"),
    "gen_p_max_mw": ("gens", "p_max_mw"),
}


class TimeSeries:
    """Absolute per-element values over time: ``frames[key]`` is a DataFrame indexed by a
    :class:`pandas.DatetimeIndex` with a fixed step, one column per element id.

    Keys are those of :data:`SERIES_KEYS` (e.g. ``"load_p_mw"``: one column per ``load_id``).
    All frames share the same index. ``source`` says where the profiles come from.
    """

    __slots__ = ("_frames", "source")

    def __init__(self, frames: Mapping[str, pd.DataFrame], source: str = ""):
        if not frames:
            raise ValueError("TimeSeries needs at least one frame")
        unknown = set(frames) - set(SERIES_KEYS)
        if unknown:
            raise ValueError(
                f"TimeSeries: unknown key(s) {sorted(unknown)}; allowed {list(SERIES_KEYS)}"
            )
        index = next(iter(frames.values())).index
        if not isinstance(index, pd.DatetimeIndex) or len(index) < 1:
            raise ValueError("TimeSeries frames must be indexed by a non-empty DatetimeIndex")
        steps = np.diff(index.asi8)
        if len(steps) and (steps[0] <= 0 or (steps != steps[0]).any()):
            raise ValueError("TimeSeries index must be increasing with a fixed step")
        clean = {}
        for key, df in frames.items():
            if not df.index.equals(index):
                raise ValueError(f"TimeSeries['{key}'] index differs from the other frames")
            values = df.to_numpy(dtype="float64")
            if not np.isfinite(values).all():
                bad = df.columns[~np.isfinite(values).all(axis=0)].tolist()
                raise ValueError(f"TimeSeries['{key}']: NaN or inf in column(s) {bad[:5]}")
            frame = pd.DataFrame(values, index=index, columns=pd.Index(df.columns, dtype="int64"))
            clean[key] = freeze(frame)
        object.__setattr__(self, "_frames", MappingProxyType(clean))
        object.__setattr__(self, "source", source)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("TimeSeries is immutable")

    def __getitem__(self, key: str) -> pd.DataFrame:
        return self._frames[key].copy(deep=False)

    def __contains__(self, key: str) -> bool:
        return key in self._frames

    def keys(self) -> list[str]:
        return list(self._frames)

    @property
    def index(self) -> pd.DatetimeIndex:
        return next(iter(self._frames.values())).index

    @property
    def step(self) -> pd.Timedelta:
        idx = self.index
        return idx[1] - idx[0] if len(idx) > 1 else pd.Timedelta(0)

    def __len__(self) -> int:
        return len(self.index)

    def __repr__(self) -> str:
        return (
            f"TimeSeries({len(self)} steps of {self.step}, keys={self.keys()}, "
            f"source={self.source!r})"
        )


class Case:
    """An immutable, validated power-system case.

    Tables (read-only DataFrames, columns in :mod:`dispatchlab.cases.schema`): ``buses``,
    ``branches``, ``gens``, ``gen_cost_pwl``, ``loads``, ``ders``, ``reserves``,
    ``contingencies``; plus ``base_mva``, an optional :class:`TimeSeries` and ``meta`` (source,
    citation, notes). Raises :class:`CaseValidationError` listing every problem found.
    """

    __slots__ = ("_t", "allow_negative_x", "base_mva", "meta", "name", "timeseries")

    def __init__(
        self,
        name: str,
        buses: pd.DataFrame | Mapping,
        branches: pd.DataFrame | Mapping | None = None,
        gens: pd.DataFrame | Mapping | None = None,
        loads: pd.DataFrame | Mapping | None = None,
        *,
        ders: pd.DataFrame | Mapping | None = None,
        gen_cost_pwl: pd.DataFrame | Mapping | None = None,
        reserves: pd.DataFrame | Mapping | None = None,
        contingencies: pd.DataFrame | Mapping | None = None,
        base_mva: float = 100.0,
        timeseries: TimeSeries | None = None,
        meta: Mapping[str, Any] | None = None,
        allow_negative_x: bool = False,
    ):
        given = {
            "buses": buses,
            "branches": branches,
            "gens": gens,
            "loads": loads,
            "ders": ders,
            "gen_cost_pwl": gen_cost_pwl,
            "reserves": reserves,
            "contingencies": contingencies,
        }
        problems: list[str] = []
        tables = {k: normalize_table(k, v, problems) for k, v in given.items()}
        if not (np.isfinite(base_mva) and base_mva > 0):
            problems.append(f"base_mva must be a positive number, got {base_mva}")
        if not any("required column" in p or "must be" in p for p in problems):
            # unknown columns do not stop the content checks: report everything at once
            problems += validate_tables(tables, allow_negative_x)
        if timeseries is not None and not problems:
            problems += _check_series(timeseries, tables)
        if problems:
            raise CaseValidationError(name, problems)
        for v in tables.values():
            freeze(v)
        set_ = object.__setattr__
        set_(self, "name", str(name))
        set_(self, "base_mva", float(base_mva))
        set_(self, "timeseries", timeseries)
        set_(self, "meta", MappingProxyType(dict(meta or {})))
        set_(self, "allow_negative_x", bool(allow_negative_x))
        set_(self, "_t", MappingProxyType(tables))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Case is immutable: use case.replace(...) or a with_* variant")

    # Tables are returned as copies: editing one (to build a variant with `replace`) can never
    # change the Case. The stored frames themselves are read-only.
    buses = property(lambda self: self._t["buses"].copy())
    branches = property(lambda self: self._t["branches"].copy())
    gens = property(lambda self: self._t["gens"].copy())
    gen_cost_pwl = property(lambda self: self._t["gen_cost_pwl"].copy())
    loads = property(lambda self: self._t["loads"].copy())
    ders = property(lambda self: self._t["ders"].copy())
    reserves = property(lambda self: self._t["reserves"].copy())
    contingencies = property(lambda self: self._t["contingencies"].copy())

    def table(self, name: str) -> pd.DataFrame:
        """The stored, read-only frame of a table (no copy: for hot paths that only read)."""
        return self._t[name]

    # ----------------------------------------------------------------------------- variants
    def replace(self, **changes: Any) -> Case:
        """A new Case with some tables or attributes replaced (validated again)."""
        kwargs = self._kwargs()
        unknown = set(changes) - set(kwargs)
        if unknown:
            raise TypeError(f"Case.replace: unknown field(s) {sorted(unknown)}")
        kwargs.update(changes)
        return Case(**kwargs)

    def with_ders(self, ders: pd.DataFrame | Mapping, *, replace: bool = False) -> Case:
        """A new Case with ``ders`` added (ids continue after the existing ones unless given)."""
        new = ders if isinstance(ders, pd.DataFrame) else pd.DataFrame(ders)
        if "der_id" in new.columns:
            new = new.set_index("der_id")
        elif new.index.name != "der_id":
            start = (
                0 if replace or len(self._t["ders"]) == 0 else int(self._t["ders"].index.max()) + 1
            )
            new = new.set_axis(pd.RangeIndex(start, start + len(new), name="der_id"))
        problems: list[str] = []
        new = normalize_table("ders", new, problems)
        if problems:
            raise CaseValidationError(self.name, problems)
        table = new if replace else pd.concat([self._t["ders"], new])
        return self.replace(ders=table)

    def with_timeseries(self, timeseries: TimeSeries | None) -> Case:
        return self.replace(timeseries=timeseries)

    def scaled_loads(self, factor: float) -> Case:
        """A new Case with every load's P and Q multiplied by ``factor``."""
        loads = self.loads
        loads[["p_mw", "q_mvar"]] = loads[["p_mw", "q_mvar"]].to_numpy() * factor
        return self.replace(loads=loads)

    def at(self, t: int | str | pd.Timestamp) -> Case:
        """The single-snapshot Case at step ``t`` (position or timestamp) of the time series.

        Loads take ``load_p_mw``/``load_q_mvar``, DERs and generators take their available
        ``p_max_mw`` from the series; the result carries no time series and records the time in
        ``meta['time']``.
        """
        ts = self.timeseries
        if ts is None:
            raise ValueError(f"case '{self.name}' has no time series; attach one first")
        if isinstance(t, int | np.integer):
            if not -len(ts) <= t < len(ts):
                raise IndexError(f"step {t} outside the time series of {len(ts)} steps")
            stamp = ts.index[t]
        else:
            stamp = pd.Timestamp(t)
            if stamp not in ts.index:
                raise KeyError(f"{stamp} is not a step of the time series ({ts.index[0]} …)")
        tables = {k: self._t[k].copy() for k in ("loads", "ders", "gens")}
        for key, (table, column) in SERIES_KEYS.items():
            if key in ts:
                row = ts[key].loc[stamp]
                df = tables[table]
                df.loc[row.index, column] = row.to_numpy()
                if column == "p_max_mw" and table == "ders":
                    df["p_mw"] = np.minimum(df["p_mw"], df["p_max_mw"])
        meta = dict(self.meta, time=str(stamp))
        return self.replace(timeseries=None, meta=meta, **tables)

    # --------------------------------------------------------------------------- summaries
    @property
    def n_buses(self) -> int:
        return len(self._t["buses"])

    @property
    def n_branches(self) -> int:
        return len(self._t["branches"])

    @property
    def n_gens(self) -> int:
        return len(self._t["gens"])

    @property
    def total_load_mw(self) -> float:
        loads = self._t["loads"]
        return float(loads.loc[loads["in_service"], "p_mw"].sum())

    def summary(self) -> dict[str, Any]:
        """Sizes, totals and limits, as plain numbers (what ``dispatchlab cases show`` prints)."""
        t = self._t
        gens, ders, loads = t["gens"], t["ders"], t["loads"]
        return {
            "name": self.name,
            "base_mva": self.base_mva,
            "buses": self.n_buses,
            "branches": self.n_branches,
            "transformers": int((t["branches"]["kind"] == "transformer").sum()),
            "gens": self.n_gens,
            "loads": len(loads),
            "ders": len(ders),
            "der_kinds": ders["kind"].value_counts().to_dict(),
            "contingencies": int(t["contingencies"]["ctg_id"].nunique()),
            "total_load_mw": self.total_load_mw,
            "total_load_mvar": float(loads.loc[loads["in_service"], "q_mvar"].sum()),
            "gen_capacity_mw": float(gens.loc[gens["in_service"], "p_max_mw"].sum()),
            "der_capacity_mw": float(ders.loc[ders["in_service"], "p_max_mw"].sum()),
            "base_kv": sorted(set(np.round(t["buses"]["base_kv"].to_numpy(), 3).tolist())),
            "vm_range_pu": (
                float(t["buses"]["vm_min_pu"].min()),
                float(t["buses"]["vm_max_pu"].max()),
            )
            if self.n_buses
            else (np.nan, np.nan),
            "rated_branches": int(np.isfinite(t["branches"]["rate_a_mva"]).sum()),
            "timeseries": repr(self.timeseries) if self.timeseries is not None else "none",
            "source": self.meta.get("source", ""),
        }

    def case_hash(self) -> str:
        """A SHA-256 of the tables, base MVA and time series: equal hash ⇔ same data."""
        h = hashlib.sha256()
        h.update(repr(self.base_mva).encode())
        for name in TABLES:
            h.update(name.encode())
            h.update(pd.util.hash_pandas_object(self._t[name], index=True).to_numpy().tobytes())
            h.update(",".join(self._t[name].columns).encode())
        if self.timeseries is not None:
            for key in self.timeseries.keys():
                h.update(pd.util.hash_pandas_object(self.timeseries[key]).to_numpy().tobytes())
        return h.hexdigest()

    def equals(self, other: Case, *, rtol: float = 0.0, atol: float = 0.0) -> bool:
        """True when every table and ``base_mva`` agree (numbers within rtol/atol)."""
        return not self.differences(other, rtol=rtol, atol=atol)

    def differences(self, other: Case, *, rtol: float = 0.0, atol: float = 0.0) -> list[str]:
        """What differs between two Cases, one line per table and column (empty when equal)."""
        out = []
        if self.base_mva != other.base_mva:
            out.append(f"base_mva {self.base_mva} != {other.base_mva}")
        for name in TABLES:
            a, b = self._t[name], other._t[name]
            if not a.index.equals(b.index):
                out.append(f"{name}: ids differ")
                continue
            for col in a.columns:
                x, y = a[col].to_numpy(), b[col].to_numpy()
                if a[col].dtype == "float64":
                    same = np.isclose(x, y, rtol=rtol, atol=atol, equal_nan=True) | (x == y)
                else:
                    same = x == y
                if not np.all(same):
                    ids = list(a.index[~same][:3])
                    out.append(f"{name}.{col}: differs at id(s) {ids}")
        return out

    def _kwargs(self) -> dict[str, Any]:
        kw: dict[str, Any] = {k: self._t[k] for k in TABLES}
        kw.update(
            name=self.name,
            base_mva=self.base_mva,
            timeseries=self.timeseries,
            meta=dict(self.meta),
            allow_negative_x=self.allow_negative_x,
        )
        return kw

    def __repr__(self) -> str:
        return (
            f"Case({self.name!r}: {self.n_buses} buses, {self.n_branches} branches, "
            f"{self.n_gens} gens, {len(self._t['loads'])} loads, {len(self._t['ders'])} DERs, "
            f"{self.total_load_mw:.1f} MW load)"
        )


def _check_series(ts: TimeSeries, tables: Mapping[str, pd.DataFrame]) -> list[str]:
    problems = []
    for key in ts.keys():
        table, _ = SERIES_KEYS[key]
        missing = set(ts[key].columns) - set(tables[table].index)
        if missing:
            problems.append(
                f"timeseries['{key}']: columns name missing {table} {sorted(missing)[:5]}"
            )
    return problems
