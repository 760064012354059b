-- Contacts (a local cache of the CRM's, or typed/imported) and the call journal (the seed's Call).
CREATE TABLE contacts (
    id          TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    company     TEXT,
    emails      TEXT NOT NULL DEFAULT '[]',   -- JSON array of strings
    crm_id      TEXT,
    created_at  INTEGER NOT NULL,             -- Unix milliseconds
    updated_at  INTEGER NOT NULL
);
CREATE INDEX contacts_name ON contacts (name COLLATE NOCASE);

-- Phones in E.164 only: caller lookup is one index probe.
CREATE TABLE contact_phones (
    contact_id  TEXT NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    number      TEXT NOT NULL,
    label       TEXT,
    PRIMARY KEY (contact_id, position)
);
CREATE INDEX contact_phones_number ON contact_phones (number);

CREATE TABLE calls (
    id            TEXT PRIMARY KEY NOT NULL,
    direction     TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    status        TEXT NOT NULL CHECK (status IN ('ringing', 'in_progress', 'completed', 'failed')),
    from_party    TEXT NOT NULL,
    to_party      TEXT NOT NULL,
    contact_id    TEXT REFERENCES contacts (id) ON DELETE SET NULL,
    provider_id   TEXT REFERENCES providers (id) ON DELETE SET NULL,
    initiated_at  INTEGER NOT NULL,           -- Unix milliseconds: sorts and ranges as numbers
    answered_at   INTEGER,
    ended_at      INTEGER,
    duration_secs INTEGER,
    end_reason    TEXT,
    end_detail    TEXT,
    notes         TEXT
);
CREATE INDEX calls_newest ON calls (initiated_at DESC, id DESC);
CREATE INDEX calls_contact ON calls (contact_id, initiated_at DESC);
-- Live calls are few; finding them at start-up (to close them as interrupted) must not scan.
CREATE INDEX calls_live ON calls (status) WHERE status IN ('ringing', 'in_progress');
