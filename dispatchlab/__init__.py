"""dispatchlab: exact power-system dispatch beside learned methods, benchmarked honestly."""

from dispatchlab.cases import Case, CaseValidationError, TimeSeries

__version__ = "0.1.0"
__all__ = ["Case", "CaseValidationError", "TimeSeries", "__version__"]
