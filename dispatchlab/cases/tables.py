"""Normalising and freezing the Case tables against their schema (see ``schema.py``)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from dispatchlab.cases.schema import TABLES, Column


def normalize_table(
    table: str, data: pd.DataFrame | Mapping | None, problems: list[str]
) -> pd.DataFrame:
    """Return ``data`` as a DataFrame with exactly the schema's columns, dtypes and index name.

    Missing optional columns get their default; missing required columns, unknown columns and
    values that cannot take the column's dtype are appended to ``problems`` (nothing is dropped
    silently: an unknown column is an error, not ignored).
    """
    index_name, columns = TABLES[table]
    if data is None:
        data = pd.DataFrame(columns=list(columns))
    elif not isinstance(data, pd.DataFrame):
        data = pd.DataFrame(data)
    df = data.copy()
    if df.index.name not in (index_name, None) and index_name in df.columns:
        df = df.set_index(index_name)
    elif index_name in df.columns:
        df = df.set_index(index_name)
    unknown = [c for c in df.columns if c not in columns]
    if unknown:
        problems.append(
            f"{table}: unknown column(s) {unknown}; allowed: {sorted(columns)} "
            "(check the unit suffix, e.g. 'p_max_mw')"
        )
    out = {}
    for name, col in columns.items():
        out[name] = _column_values(table, name, col, df, problems)
    result = pd.DataFrame(out, index=_int_index(table, df.index, index_name, problems))
    return result


def _column_values(
    table: str, name: str, col: Column, df: pd.DataFrame, problems: list[str]
) -> np.ndarray:
    n = len(df)
    if name not in df.columns:
        if col.default is None:
            if n:
                problems.append(f"{table}: required column '{name}' is missing")
            return np.zeros(n, dtype=col.dtype if col.dtype != "object" else object)
        return np.full(n, col.default, dtype=col.dtype if col.dtype != "object" else object)
    values = df[name]
    if col.dtype == "object":
        return np.asarray(values.astype(str).to_numpy(), dtype=object)
    if col.dtype == "bool":
        if values.dtype != bool and not set(pd.unique(values)) <= {0, 1}:
            problems.append(f"{table}.{name}: values must be true/false, got {_sample(values)}")
            return np.zeros(n, dtype=bool)
        return values.astype(bool).to_numpy()
    try:
        arr = pd.to_numeric(values).to_numpy(dtype="float64")
    except (TypeError, ValueError):
        problems.append(f"{table}.{name}: values must be numeric, got {_sample(values)}")
        return np.zeros(n, dtype=col.dtype)
    if col.dtype == "int64":
        bad = ~np.isfinite(arr) | (arr != np.round(arr))
        if bad.any():
            ids = list(df.index[bad][:5])
            problems.append(f"{table}.{name}: must be whole numbers; bad at id(s) {ids}")
            arr = np.where(bad, 0, arr)
        return arr.astype("int64")
    return arr


def _int_index(table: str, index: pd.Index, name: str, problems: list[str]) -> pd.Index:
    if len(index) == 0:
        return pd.Index([], dtype="int64", name=name)
    try:
        idx = pd.Index(pd.to_numeric(index), name=name).astype("int64")
    except (TypeError, ValueError):
        problems.append(f"{table}: ids ({name}) must be integers, got {list(index[:5])}")
        return pd.RangeIndex(len(index), name=name)
    if idx.has_duplicates:
        problems.append(f"{table}: duplicate {name} {sorted(set(idx[idx.duplicated()]))[:10]}")
    return idx


def _sample(values: pd.Series) -> list:
    return list(pd.unique(values))[:5]


def freeze(df: pd.DataFrame) -> pd.DataFrame:
    """Make the values of ``df`` read-only so that in-place edits raise ``ValueError``."""
    for block in df._mgr.blocks:  # pandas < 3: the only way to reach the arrays without a copy
        values = block.values
        if isinstance(values, np.ndarray):
            values.flags.writeable = False
    return df
