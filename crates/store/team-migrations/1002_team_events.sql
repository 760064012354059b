-- What the server told its desktops on the live link, kept so a desktop that reconnects
-- catches up from its cursor (the id). `user_id` NULL: for the whole team. Old rows are
-- pruned; a cursor older than what is kept gets a "resync".
CREATE TABLE team_events (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    at       INTEGER NOT NULL,
    user_id  TEXT,
    body     TEXT NOT NULL
);
CREATE INDEX team_events_user ON team_events (user_id, id);
