"""The portal's session engine (``SESSION_ENGINE = "policies.sessions"``): the session read with one plain
statement (exceptions_portal.sessions), which also reads the rules version. Nearly every signed-in request reads
that version right after its session (the signed-in person and their permissions are kept under it,
policies.permissions): one round trip for both."""

from __future__ import annotations

from exceptions_portal import sessions
from policies import selectors


class SessionStore(sessions.SessionStore):
    also_read = selectors.STAMP_SQL

    def received(self, value) -> None:
        selectors.rules_stamp_read_with_session(value)
