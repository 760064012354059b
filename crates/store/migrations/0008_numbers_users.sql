-- The provider accounts' phone numbers (the seed's TelephonyNumber) and the agents who use
-- them (TelephonyUser). Numbers gone from an account are deactivated, not deleted: calls and
-- routes keep pointing at them.
CREATE TABLE users (
    id                    TEXT PRIMARY KEY NOT NULL,
    name                  TEXT NOT NULL,
    email                 TEXT,
    -- The agent at this desktop (one at most): their status follows the softphone and tray.
    is_me                 INTEGER NOT NULL DEFAULT 0 CHECK (is_me IN (0, 1)),
    primary_number_id     TEXT REFERENCES phone_numbers (id) ON DELETE SET NULL,
    forwarding_number     TEXT,
    receive_calls_in_app  INTEGER NOT NULL DEFAULT 1,
    forward_when_offline  INTEGER NOT NULL DEFAULT 0,
    voicemail_enabled     INTEGER NOT NULL DEFAULT 1,
    dnd_enabled           INTEGER NOT NULL DEFAULT 0,
    status                TEXT NOT NULL DEFAULT 'offline'
                          CHECK (status IN ('online', 'offline', 'busy', 'dnd')),
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL
);
CREATE UNIQUE INDEX users_me ON users (is_me) WHERE is_me = 1;

CREATE TABLE phone_numbers (
    id                  TEXT PRIMARY KEY NOT NULL,
    provider_id         TEXT NOT NULL REFERENCES providers (id) ON DELETE CASCADE,
    provider_number_id  TEXT NOT NULL,
    phone_number        TEXT NOT NULL,               -- E.164
    friendly_name       TEXT,
    number_type         TEXT NOT NULL CHECK (number_type IN ('local', 'tollfree', 'mobile')),
    country             TEXT,
    voice               INTEGER NOT NULL DEFAULT 0,
    sms                 INTEGER NOT NULL DEFAULT 0,
    mms                 INTEGER NOT NULL DEFAULT 0,
    fax                 INTEGER NOT NULL DEFAULT 0,
    route_type          TEXT CHECK (route_type IN ('user', 'queue', 'external')),
    route_user_id       TEXT REFERENCES users (id) ON DELETE SET NULL,
    route_queue         TEXT,
    route_external      TEXT,                        -- E.164
    active              INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    UNIQUE (provider_id, provider_number_id)
);
CREATE INDEX phone_numbers_number ON phone_numbers (phone_number);

CREATE TABLE user_numbers (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    number_id  TEXT NOT NULL REFERENCES phone_numbers (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, number_id)
);

-- Who took or made the call (the journal's user filter).
ALTER TABLE calls ADD COLUMN user_id TEXT REFERENCES users (id) ON DELETE SET NULL;
CREATE INDEX calls_user ON calls (user_id, initiated_at DESC) WHERE user_id IS NOT NULL;
