-- Call activities on their way to the CRM. A row is written in the same transaction as the
-- call's final state, so a call that ended is never without its delivery; the worker moves it
-- pending → done, or → dead after permanent refusals (shown to the agent with a retry).
-- After-call work: the agent's disposition of the call (its notes go in calls.notes).
ALTER TABLE calls ADD COLUMN disposition TEXT;

CREATE TABLE outbox (
    id               TEXT PRIMARY KEY NOT NULL,
    call_id          TEXT NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    crm              TEXT NOT NULL,
    kind             TEXT NOT NULL CHECK (kind IN ('log_call')),
    idempotency_key  TEXT NOT NULL UNIQUE,
    state            TEXT NOT NULL CHECK (state IN ('pending', 'inflight', 'done', 'dead')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    reconcile        INTEGER NOT NULL DEFAULT 0 CHECK (reconcile IN (0, 1)),
    next_attempt_at  INTEGER NOT NULL,
    last_error       TEXT,
    remote_ref       TEXT,
    created_at       INTEGER NOT NULL,
    -- Delivery in the order calls ended.
    seq              INTEGER NOT NULL
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at, seq);
