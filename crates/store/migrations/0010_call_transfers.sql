-- Transfers of a call (the seed's Call.transfers): a JSON array of {at, to, kind, outcome,
-- detail}, read and written with the call it belongs to; NULL when there were none. And who
-- passed the caller on to us, for a call that came by a transfer.
ALTER TABLE calls ADD COLUMN transfers TEXT;
ALTER TABLE calls ADD COLUMN transferred_by TEXT;
