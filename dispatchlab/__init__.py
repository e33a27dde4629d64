"""dispatchlab: exact power-system dispatch beside learned methods, benchmarked honestly."""

import logging as _logging
from importlib import import_module as _import_module
from typing import Any as _Any


class _NoNumbaNotice(_logging.Filter):
    """pandapower logs "numba cannot be imported … Please install numba" at its import and on
    runs without numba. numba is optional here: its JIT costs more than it saves on our cases
    (``pf ieee123``: 5.4 s CPU with numba against 2.2 s without; the pandapower tests +27 %),
    so the notice is only noise. pandapower still uses numba where it is installed."""

    def filter(self, record: _logging.LogRecord) -> bool:
        return not str(record.msg).startswith("numba cannot be imported")


# before pandapower is imported (its logger is looked up by name, so it gets the filter)
_logging.getLogger("pandapower.auxiliary").addFilter(_NoNumbaNotice())

from dispatchlab.cases import Case, CaseValidationError, TimeSeries  # noqa: E402
from dispatchlab.cases.library import UnknownCaseError, list_cases, load_case  # noqa: E402
from dispatchlab.solvers.api import problems, solve  # noqa: E402
from dispatchlab.solvers.result import Result  # noqa: E402
from dispatchlab.solvers.status import Status  # noqa: E402
from dispatchlab.solvers.verify import VerificationReport, verify  # noqa: E402

__version__ = "0.1.0"

#: imported on first use: pandapower takes ~3 s to import, the environments ~0.5 s
_LAZY = {
    "make_env": "dispatchlab.learning.envs",
    "list_envs": "dispatchlab.learning.envs",
    "to_pandapower": "dispatchlab.cases.pandapower_io",
    "from_pandapower": "dispatchlab.cases.pandapower_io",
}

__all__ = [
    "Case",
    "CaseValidationError",
    "Result",
    "Status",
    "TimeSeries",
    "UnknownCaseError",
    "VerificationReport",
    "__version__",
    "from_pandapower",
    "list_cases",
    "list_envs",
    "load_case",
    "make_env",
    "problems",
    "solve",
    "to_pandapower",
    "verify",
]


def __getattr__(name: str) -> _Any:
    if name in _LAZY:
        value = getattr(_import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'dispatchlab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
