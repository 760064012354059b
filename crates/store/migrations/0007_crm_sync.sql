-- The CRM's contacts mirrored for offline caller lookup. A contact with a crm_id mirrors that
-- CRM record: syncs overwrite it, and a full resync removes those it no longer sees.
ALTER TABLE contacts ADD COLUMN crm_seen INTEGER;   -- the full resync that last saw it
CREATE INDEX contacts_crm ON contacts (crm_id) WHERE crm_id IS NOT NULL;

CREATE TABLE crm_sync (
    crm                TEXT PRIMARY KEY NOT NULL,  -- the CRM's kind and address
    cursor             TEXT,                       -- where the next pull starts (the connector's format)
    full_run           INTEGER,                    -- a full resync under way: its stamp
    last_sync_at       INTEGER,                    -- Unix milliseconds
    last_full_sync_at  INTEGER,
    last_error         TEXT
);
