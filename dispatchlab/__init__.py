"""dispatchlab: exact power-system dispatch beside learned methods, benchmarked honestly."""

from dispatchlab.cases import Case, CaseValidationError, TimeSeries
from dispatchlab.cases.library import UnknownCaseError, list_cases, load_case
from dispatchlab.solvers.api import problems, solve
from dispatchlab.solvers.result import Result
from dispatchlab.solvers.status import Status

__version__ = "0.1.0"
__all__ = [
    "Case",
    "CaseValidationError",
    "Result",
    "Status",
    "TimeSeries",
    "UnknownCaseError",
    "__version__",
    "list_cases",
    "load_case",
    "problems",
    "solve",
]
