"""Real logged data: loaders with row-and-column errors, the Open Bandit Dataset, session logs."""

from recenv.offline.data.logs import (
    EVENT_COLUMNS,
    LoadReport,
    LoggedImpressions,
    LogValidationError,
    load_event_log,
    validate_impressions,
)
from recenv.offline.data.obd import load_obd
from recenv.offline.data.sessions import (
    EVENTS,
    TAOBAO_WINDOW,
    SessionLog,
    load_session_events,
    load_taobao,
    sessionize,
)

__all__ = [
    "EVENTS",
    "EVENT_COLUMNS",
    "TAOBAO_WINDOW",
    "LoadReport",
    "LogValidationError",
    "LoggedImpressions",
    "SessionLog",
    "load_event_log",
    "load_obd",
    "load_session_events",
    "load_taobao",
    "sessionize",
    "validate_impressions",
]
