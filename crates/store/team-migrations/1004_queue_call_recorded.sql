-- The number a queue's caller called records its calls: so is the agent's talk with them.
ALTER TABLE queue_calls ADD COLUMN recorded INTEGER NOT NULL DEFAULT 0;
