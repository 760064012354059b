-- The team server's own tables, beside the desktop schema it shares (providers, numbers,
-- users, the call journal). Versions from 1001 so the two sets never collide.

-- Values sealed by the server (AEAD): provider keys, agents' SIP passwords. The row's key is
-- bound into the seal, so a sealed value moved to another row does not open.
CREATE TABLE sealed_secrets (
    key         TEXT PRIMARY KEY NOT NULL,
    sealed      BLOB NOT NULL,
    updated_at  INTEGER NOT NULL
);

-- One-time codes an admin hands an agent to sign a desktop in; only their hash is kept.
CREATE TABLE invites (
    code_hash   BLOB PRIMARY KEY NOT NULL,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role        TEXT NOT NULL CHECK (role IN ('admin', 'agent')),
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER
);

-- Signed-in desktops. The token is kept hashed; a revoked device's token is refused.
CREATE TABLE devices (
    id          TEXT PRIMARY KEY NOT NULL,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role        TEXT NOT NULL CHECK (role IN ('admin', 'agent')),
    name        TEXT NOT NULL,
    token_hash  BLOB NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER,
    -- Presence: what the desktop last said and when (a silent desktop is offline once its
    -- last word is older than the grace period).
    presence    TEXT NOT NULL DEFAULT 'available'
                CHECK (presence IN ('available', 'on_call', 'wrap_up', 'dnd')),
    last_seen   INTEGER
);
CREATE INDEX devices_user ON devices (user_id);

-- Each agent's softphone login on a provider, made by the server (the password is sealed).
CREATE TABLE agent_logins (
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider_id  TEXT NOT NULL REFERENCES providers (id) ON DELETE CASCADE,
    sip_user     TEXT NOT NULL,
    sip_domain   TEXT NOT NULL,
    registrar    TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (user_id, provider_id)
);
CREATE UNIQUE INDEX agent_logins_sip ON agent_logins (provider_id, sip_user);
