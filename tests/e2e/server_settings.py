"""Settings of the server processes that browser tests start: the test settings plus TOTP tolerance."""

from helpdesk.settings.test import *  # noqa: F403

# A code computed just before a 30-s boundary must still pass when it reaches the server after it.
MFA_TOTP_TOLERANCE = 1
