-- Whether calls through a number are recorded: 1 always, 0 never, NULL as its provider's
-- "Record calls" says (set on the team server by an admin).
ALTER TABLE phone_numbers ADD COLUMN record_calls INTEGER CHECK (record_calls IN (0, 1));
