-- Calls placed or announced through a provider's API carry its call id; webhooks find them by it.
ALTER TABLE calls ADD COLUMN provider_call_id TEXT;
ALTER TABLE calls ADD COLUMN recording_url TEXT;
CREATE UNIQUE INDEX calls_provider_call ON calls (provider_id, provider_call_id)
    WHERE provider_call_id IS NOT NULL;

-- Webhook events already applied, by the provider's own event id: a redelivery is ignored.
CREATE TABLE webhook_events (
    provider_id  TEXT NOT NULL,
    event_id     TEXT NOT NULL,
    applied_at   INTEGER NOT NULL,
    PRIMARY KEY (provider_id, event_id)
);
