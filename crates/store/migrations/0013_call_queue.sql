-- The queue a call came through (the team server names it to the softphone it rings).
ALTER TABLE calls ADD COLUMN queue TEXT;
