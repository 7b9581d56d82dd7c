"""audit append as one server-side call (PostgreSQL)

``chartguard_audit_append`` locks the practice's chain head, hashes and inserts the entry
and moves the head in one statement, so a chain lock is never held across a client round
trip (see ehr_core/audit.py). SQLite appends in Python as before: nothing to do there.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 01:20:00
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# The hashed text is the canonical JSON array of ehr_core.audit.entry_hash:
#   ["<prev_hash>",<practice_id>,<seq>,"<at, ISO 8601 UTC, microseconds>",<p_tail>
# where p_tail is the rest of that array (user, action, ... remote address, closing
# bracket) as Python's json.dumps wrote it, so both sides escape strings identically.
# `at` is taken under the lock, so entries stay in time order along the chain.
APPEND_FUNCTION = """
CREATE OR REPLACE FUNCTION chartguard_audit_append(
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
    v_seq integer;
    v_prev text;
    v_hash text;
    v_at timestamp without time zone;
BEGIN
    IF NOT p_durable THEN
        -- SET LOCAL: only this transaction's commit skips waiting for the WAL flush.
        PERFORM set_config('synchronous_commit', 'off', true);
    END IF;
    SELECT seq, hash INTO v_seq, v_prev
        FROM audit_heads WHERE practice_id = p_practice_id FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO audit_heads (practice_id, seq, hash)
            VALUES (p_practice_id, 0, repeat('0', 64))
            ON CONFLICT (practice_id) DO NOTHING;
        SELECT seq, hash INTO v_seq, v_prev
            FROM audit_heads WHERE practice_id = p_practice_id FOR UPDATE;
    END IF;
    v_seq := v_seq + 1;
    v_at := clock_timestamp() AT TIME ZONE 'UTC';
    v_hash := encode(sha256(convert_to(
        '["' || v_prev || '",' || p_practice_id || ',' || v_seq || ',"'
        || to_char(v_at, 'YYYY-MM-DD"T"HH24:MI:SS.US') || '+00:00",' || p_tail,
        'UTF8')), 'hex');
    INSERT INTO audit_entries (practice_id, seq, at, user_id, action, resource_type,
                               resource_id, patient_id, remote_addr, prev_hash, hash)
        VALUES (p_practice_id, v_seq, v_at, p_user_id, p_action, p_resource_type,
                p_resource_id, p_patient_id, p_remote_addr, v_prev, v_hash);
    UPDATE audit_heads SET seq = v_seq, hash = v_hash WHERE practice_id = p_practice_id;
    RETURN v_seq;
END
$fn$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(APPEND_FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "DROP FUNCTION IF EXISTS chartguard_audit_append("
            "integer, integer, text, text, text, integer, text, text, boolean)"
        )
