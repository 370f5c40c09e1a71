"""The portal's named date formats for templates (``|date:"DATE_TIME"``); they live in exceptions_portal.formatting.

Django reads this module for English (en-gb falls back to en) through settings.FORMAT_MODULE_PATH; Django's own
formats (DATE_FORMAT, ...) are not touched.
"""

from exceptions_portal.formatting import (
    DATE,
    DATE_TIME,
    DAY_TIME,
    LONG_DATE_TIME,
    LONG_DAY_TIME,
    TEXT_DATE,
    TEXT_DATE_TIME,
    TEXT_DAY_MONTH,
    TEXT_TIME_ON_DAY,
    TEXT_WEEKDAY_DATE_TIME_ZONE,
    TEXT_WHEN,
    WEEKDAY_DATE_TIME,
    WEEKDAY_DAY_TIME,
    WEEKDAY_DAY_TIME_ZONE,
)

__all__ = [
    "DATE",
    "DATE_TIME",
    "DAY_TIME",
    "LONG_DATE_TIME",
    "LONG_DAY_TIME",
    "TEXT_DATE",
    "TEXT_DATE_TIME",
    "TEXT_DAY_MONTH",
    "TEXT_TIME_ON_DAY",
    "TEXT_WEEKDAY_DATE_TIME_ZONE",
    "TEXT_WHEN",
    "WEEKDAY_DATE_TIME",
    "WEEKDAY_DAY_TIME",
    "WEEKDAY_DAY_TIME_ZONE",
]
