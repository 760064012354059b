-- Telephony providers (the seed's TelephonyProvider). Keys live in the OS keyring: this table
-- holds only flags saying which keys are stored.
CREATE TABLE providers (
    id                  TEXT PRIMARY KEY NOT NULL,
    kind                TEXT NOT NULL CHECK (kind IN ('telnyx', 'twilio', 'vonage')),
    name                TEXT NOT NULL,
    enabled             INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    is_active           INTEGER NOT NULL DEFAULT 0 CHECK (is_active IN (0, 1)),
    has_api_key         INTEGER NOT NULL DEFAULT 0,
    has_api_secret      INTEGER NOT NULL DEFAULT 0,
    has_account_sid     INTEGER NOT NULL DEFAULT 0,
    has_auth_token      INTEGER NOT NULL DEFAULT 0,
    has_application_id  INTEGER NOT NULL DEFAULT 0,
    has_private_key     INTEGER NOT NULL DEFAULT 0,
    has_webhook_secret  INTEGER NOT NULL DEFAULT 0,
    default_caller_id   TEXT,
    record_calls        INTEGER NOT NULL DEFAULT 0 CHECK (record_calls IN (0, 1)),
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL
);

-- At most one active provider, enforced by the database itself.
CREATE UNIQUE INDEX providers_one_active ON providers (is_active) WHERE is_active = 1;

-- Small desktop preferences (availability, default region, …).
CREATE TABLE app_settings (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);
