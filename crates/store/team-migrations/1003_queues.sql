-- Queues (the seed's CallQueue) and voicemail. Every provider request about a queued caller
-- is one stateless step over these rows: what a step decides is written with a conditional
-- update, so two requests racing (two agents answering, a redelivery) cannot both win.
CREATE TABLE queues (
    id                 TEXT PRIMARY KEY NOT NULL,
    name               TEXT NOT NULL,
    strategy           TEXT NOT NULL CHECK (strategy IN ('ring_all', 'round_robin', 'longest_idle')),
    ring_timeout_secs  INTEGER NOT NULL,
    max_wait_secs      INTEGER NOT NULL,
    max_size           INTEGER NOT NULL,
    overflow           TEXT NOT NULL,                -- JSON: ringdesk_core::queue::Overflow
    greeting           TEXT,
    -- Round-robin: the member offered a call last.
    cursor_user_id     TEXT,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    -- A deleted queue takes no calls and is listed no more; its members keep its messages.
    deleted_at         INTEGER
);
CREATE UNIQUE INDEX queues_name ON queues (name COLLATE NOCASE) WHERE deleted_at IS NULL;

CREATE TABLE queue_members (
    queue_id  TEXT NOT NULL REFERENCES queues (id) ON DELETE CASCADE,
    user_id   TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    position  INTEGER NOT NULL,
    PRIMARY KEY (queue_id, user_id)
);

-- One row per caller in a queue, from arrival to the end of their call.
CREATE TABLE queue_calls (
    id                TEXT PRIMARY KEY NOT NULL,
    queue_id          TEXT NOT NULL REFERENCES queues (id) ON DELETE CASCADE,
    provider_id       TEXT NOT NULL,
    provider_call_id  TEXT NOT NULL,
    caller            TEXT NOT NULL,
    state             TEXT NOT NULL
                      CHECK (state IN ('waiting', 'offering', 'bridged', 'overflowed', 'abandoned')),
    enqueued_at       INTEGER NOT NULL,
    offered_to        TEXT NOT NULL DEFAULT '[]',    -- JSON array of user ids ringing now
    offered_at        INTEGER,
    tried             TEXT NOT NULL DEFAULT '[]',    -- JSON array: offered this round, no answer
    answered_by       TEXT,
    ended_at          INTEGER,
    UNIQUE (provider_id, provider_call_id)
);
CREATE INDEX queue_calls_open ON queue_calls (queue_id, state, enqueued_at);
CREATE INDEX queue_calls_agent ON queue_calls (answered_by, ended_at);

CREATE TABLE voicemails (
    id                    TEXT PRIMARY KEY NOT NULL,
    box_user_id           TEXT REFERENCES users (id) ON DELETE CASCADE,
    box_queue_id          TEXT REFERENCES queues (id) ON DELETE CASCADE,
    provider_id           TEXT NOT NULL,
    provider_call_id      TEXT NOT NULL,
    caller                TEXT NOT NULL,
    created_at            INTEGER NOT NULL,
    duration_secs         INTEGER,
    -- The file in the server's voicemail folder, once copied from the provider.
    audio                 TEXT,
    transcription         TEXT,
    transcription_failed  INTEGER NOT NULL DEFAULT 0,
    CHECK ((box_user_id IS NULL) <> (box_queue_id IS NULL)),
    UNIQUE (provider_id, provider_call_id)
);
CREATE INDEX voicemails_created ON voicemails (created_at);

-- Each agent's own reading of a message (no row: new).
CREATE TABLE voicemail_status (
    voicemail_id  TEXT NOT NULL REFERENCES voicemails (id) ON DELETE CASCADE,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    status        TEXT NOT NULL CHECK (status IN ('new', 'listened', 'archived')),
    updated_at    INTEGER NOT NULL,
    PRIMARY KEY (voicemail_id, user_id)
);
