"""A named, vectorised linear/quadratic program: what problems build and backends solve.

Problems add *blocks* of variables and constraints, each with a name and a label index
(``gen_id``, ``(branch_id, period)`` …), built from sparse triplets in one vectorised call
rather than row by row (the linopy idea). Backends (highspy, Pyomo) read the assembled matrices;
solutions and duals are looked up by block name and label.

    minimize    cᵀx + ½ xᵀQx + offset
    subject to  row_lb ≤ A x ≤ row_ub,   lb ≤ x ≤ ub      (Q diagonal, ≥ 0)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

INF = np.inf


@dataclass(frozen=True)
class Block:
    """A contiguous range ``[start, start + size)`` of columns or rows with labels."""

    name: str
    index: pd.Index
    start: int

    @property
    def size(self) -> int:
        return len(self.index)

    @property
    def positions(self) -> np.ndarray:
        return np.arange(self.start, self.start + self.size)

    def at(self, labels) -> np.ndarray:
        """Positions of ``labels`` in this block; a label the block lacks is a KeyError."""
        found = self.index.get_indexer(labels)
        if (found < 0).any():
            missing = [lab for lab, f in zip(labels, found, strict=True) if f < 0]
            raise KeyError(f"block '{self.name}' has no entries {missing[:5]}")
        return self.start + found


class LinearModel:
    """Named blocks of variables and constraints, assembled into sparse matrices on demand."""

    def __init__(self, name: str = "model"):
        self.name = name
        self.var_blocks: dict[str, Block] = {}
        self.con_blocks: dict[str, Block] = {}
        self._lb: list[np.ndarray] = []
        self._ub: list[np.ndarray] = []
        self._cost: list[np.ndarray] = []
        self._row_lb: list[np.ndarray] = []
        self._row_ub: list[np.ndarray] = []
        self._triplets: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._quad: dict[int, float] = {}
        self.offset = 0.0
        # name -> f(local rows) -> (rows × bus) d(row activity)/d(bus injection), for rows that
        # are not base-case PTDF rows (e.g. post-contingency flows); used for LMP components
        self.row_sensitivity: dict = {}
        self.n_cols = 0
        self.n_rows = 0

    # ------------------------------------------------------------------------- building
    def add_vars(self, name: str, index, lb=0.0, ub=INF, cost=0.0) -> Block:
        """Add one variable per label of ``index`` (scalars broadcast)."""
        index = _as_index(index)
        if name in self.var_blocks:
            raise ValueError(f"variable block '{name}' exists already")
        n = len(index)
        block = Block(name, index, self.n_cols)
        self._lb.append(np.broadcast_to(np.asarray(lb, float), (n,)).copy())
        self._ub.append(np.broadcast_to(np.asarray(ub, float), (n,)).copy())
        self._cost.append(np.broadcast_to(np.asarray(cost, float), (n,)).copy())
        self.var_blocks[name] = block
        self.n_cols += n
        return block

    def add_cons(self, name: str, index, rows, cols, vals, lb=-INF, ub=INF) -> Block:
        """Add one constraint per label: ``lb ≤ Σ vals·x[cols] ≤ ub`` over triplets whose
        ``rows`` are local (0 … len(index)-1) and ``cols`` are global column positions."""
        index = _as_index(index)
        if name in self.con_blocks:
            raise ValueError(f"constraint block '{name}' exists already")
        n = len(index)
        rows = np.asarray(rows, dtype=np.int64)
        cols = np.asarray(cols, dtype=np.int64)
        vals = np.broadcast_to(np.asarray(vals, float), rows.shape).copy()
        if rows.size and (rows.min() < 0 or rows.max() >= n):
            raise ValueError(f"constraint block '{name}': local row out of range")
        if cols.size and (cols.min() < 0 or cols.max() >= self.n_cols):
            raise ValueError(f"constraint block '{name}': column out of range")
        block = Block(name, index, self.n_rows)
        self._triplets.append((rows + self.n_rows, cols, vals))
        self._row_lb.append(np.broadcast_to(np.asarray(lb, float), (n,)).copy())
        self._row_ub.append(np.broadcast_to(np.asarray(ub, float), (n,)).copy())
        self.con_blocks[name] = block
        self.n_rows += n
        return block

    def add_quadratic(self, cols: np.ndarray, q: np.ndarray) -> None:
        """Add ½·q·x² to the objective for each column (q ≥ 0 keeps the problem convex)."""
        for c, v in zip(np.asarray(cols), np.asarray(q, float), strict=True):
            if v != 0.0:
                self._quad[int(c)] = self._quad.get(int(c), 0.0) + float(v)

    # ------------------------------------------------------------------------ assembled
    @property
    def lb(self) -> np.ndarray:
        return np.concatenate(self._lb) if self._lb else np.zeros(0)

    @property
    def ub(self) -> np.ndarray:
        return np.concatenate(self._ub) if self._ub else np.zeros(0)

    @property
    def cost(self) -> np.ndarray:
        return np.concatenate(self._cost) if self._cost else np.zeros(0)

    @property
    def row_lb(self) -> np.ndarray:
        return np.concatenate(self._row_lb) if self._row_lb else np.zeros(0)

    @property
    def row_ub(self) -> np.ndarray:
        return np.concatenate(self._row_ub) if self._row_ub else np.zeros(0)

    def matrix(self) -> sp.csr_matrix:
        """The constraint matrix A (rows × columns), duplicates summed."""
        if not self._triplets:
            return sp.csr_matrix((self.n_rows, self.n_cols))
        r = np.concatenate([t[0] for t in self._triplets])
        c = np.concatenate([t[1] for t in self._triplets])
        v = np.concatenate([t[2] for t in self._triplets])
        return sp.csr_matrix((v, (r, c)), shape=(self.n_rows, self.n_cols))

    def quadratic(self) -> tuple[np.ndarray, np.ndarray]:
        """Columns and diagonal entries of Q."""
        if not self._quad:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        cols = np.fromiter(self._quad.keys(), dtype=np.int64)
        order = np.argsort(cols)
        return cols[order], np.fromiter(self._quad.values(), dtype=float)[order]

    def triplets_since(self, n_blocks_before: int):
        """Triplets of the constraint blocks added after the first ``n_blocks_before``."""
        return (
            self._triplets[n_blocks_before:],
            self._row_lb[n_blocks_before:],
            self._row_ub[n_blocks_before:],
        )

    def set_var_bounds(self, name: str, lb=None, ub=None) -> None:
        """Change the bounds of a whole block (used before the first solve)."""
        k = list(self.var_blocks).index(name)
        if lb is not None:
            self._lb[k] = np.broadcast_to(np.asarray(lb, float), self._lb[k].shape).copy()
        if ub is not None:
            self._ub[k] = np.broadcast_to(np.asarray(ub, float), self._ub[k].shape).copy()

    def __repr__(self) -> str:
        return (
            f"LinearModel({self.name!r}: {self.n_cols} columns in {len(self.var_blocks)} "
            f"blocks, {self.n_rows} rows in {len(self.con_blocks)} blocks)"
        )


def _as_index(index) -> pd.Index:
    if isinstance(index, pd.Index):
        return index
    return pd.Index(index)
