"""English: readable dates (``Dec. 6, 2026``, short ``12/06/2026``) and 24-hour times (``14:05``)."""

DATE_FORMAT = "N j, Y"
SHORT_DATE_FORMAT = "m/d/Y"
TIME_FORMAT = "H:i"
DATETIME_FORMAT = "N j, Y, H:i"
SHORT_DATETIME_FORMAT = "m/d/Y H:i"
DECIMAL_SEPARATOR = "."
THOUSAND_SEPARATOR = ","
NUMBER_GROUPING = 3
