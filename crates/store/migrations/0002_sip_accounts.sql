-- SIP accounts become a provider kind: the kind check widens, the password gets its flag (the
-- password itself is in the keyring), and the account's other settings are kept as JSON.
-- SQLite cannot change a CHECK constraint, so the table is rebuilt.
CREATE TABLE providers_new (
    id                  TEXT PRIMARY KEY NOT NULL,
    kind                TEXT NOT NULL CHECK (kind IN ('telnyx', 'twilio', 'vonage', 'sip')),
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
    has_sip_password    INTEGER NOT NULL DEFAULT 0,
    default_caller_id   TEXT,
    record_calls        INTEGER NOT NULL DEFAULT 0 CHECK (record_calls IN (0, 1)),
    -- {"registrar", "domain", "username", "authUsername", "transport", "outboundProxy"}
    sip_settings        TEXT CHECK (sip_settings IS NULL OR json_valid(sip_settings)),
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    CHECK ((kind = 'sip') = (sip_settings IS NOT NULL))
);

INSERT INTO providers_new (
    id, kind, name, enabled, is_active, has_api_key, has_api_secret, has_account_sid,
    has_auth_token, has_application_id, has_private_key, has_webhook_secret, default_caller_id,
    record_calls, created_at, updated_at
)
SELECT
    id, kind, name, enabled, is_active, has_api_key, has_api_secret, has_account_sid,
    has_auth_token, has_application_id, has_private_key, has_webhook_secret, default_caller_id,
    record_calls, created_at, updated_at
FROM providers;

DROP TABLE providers;
ALTER TABLE providers_new RENAME TO providers;
CREATE UNIQUE INDEX providers_one_active ON providers (is_active) WHERE is_active = 1;
