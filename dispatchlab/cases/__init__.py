"""Cases: the Case data model, readers and writers, the case library, time series."""

from dispatchlab.cases.case import SERIES_KEYS, Case, TimeSeries
from dispatchlab.cases.validation import CaseValidationError

__all__ = ["SERIES_KEYS", "Case", "CaseValidationError", "TimeSeries"]
