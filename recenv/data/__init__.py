"""Real logged data: loaders with row-and-column errors, and the Open Bandit Dataset."""

from recenv.data.logs import (
    EVENT_COLUMNS,
    LoadReport,
    LoggedImpressions,
    LogValidationError,
    load_event_log,
    validate_impressions,
)
from recenv.data.obd import load_obd

__all__ = [
    "EVENT_COLUMNS",
    "LoadReport",
    "LogValidationError",
    "LoggedImpressions",
    "load_event_log",
    "load_obd",
    "validate_impressions",
]
