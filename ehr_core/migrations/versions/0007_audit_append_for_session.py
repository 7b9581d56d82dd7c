"""audit append that also checks the caller's session (PostgreSQL)

``chartguard_audit_append_for_session`` checks, in the same statement, that the sign-in
session a read was served under still holds (not logged out, not ended by a password
change or a disable, not expired) and that the account's role is still the one the
request was authorized with, then appends the read's audit entry exactly as
``chartguard_audit_append`` (migration 0004) does. The EHR's per-worker session cache
(ehr_core/session_cache.py) relies on it: a cached session costs no lookup of its own,
and every worker still refuses an ended session on its first request after the end.

Errors (SQLSTATE): ``CGS01`` the session has ended, ``CGS02`` the role changed. SQLite
has no such function: the EHR does not cache sessions there.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 16:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# sessions.expires_at is naive UTC, as the application writes it.
FUNCTION = """
CREATE OR REPLACE FUNCTION chartguard_audit_append_for_session(
    p_session_id integer,
    p_role text,
    p_practice_id integer,
    p_user_id integer,
    p_action text,
    p_resource_type text,
    p_resource_id text,
    p_patient_id integer,
    p_remote_addr text,
    p_tail text,
    p_durable boolean
) RETURNS integer
LANGUAGE plpgsql AS $fn$
DECLARE
    v_role text;
BEGIN
    SELECT u.role INTO v_role
        FROM sessions s JOIN users u ON u.id = s.user_id
        WHERE s.id = p_session_id
          AND s.user_id = p_user_id
          AND NOT u.disabled
          AND s.expires_at > (now() AT TIME ZONE 'UTC');
    IF NOT FOUND THEN
        RAISE EXCEPTION 'the sign-in session has ended' USING ERRCODE = 'CGS01';
    END IF;
    IF v_role IS DISTINCT FROM p_role THEN
        RAISE EXCEPTION 'the account''s role changed' USING ERRCODE = 'CGS02';
    END IF;
    RETURN chartguard_audit_append(p_practice_id, p_user_id, p_action, p_resource_type,
                                   p_resource_id, p_patient_id, p_remote_addr, p_tail,
                                   p_durable);
END
$fn$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "DROP FUNCTION IF EXISTS chartguard_audit_append_for_session(integer, text, "
            "integer, integer, text, text, text, integer, text, text, boolean)"
        )
