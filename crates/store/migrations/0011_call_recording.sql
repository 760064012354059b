-- How long a call's recording is (the seed's Call.recording {url, duration}); NULL when the
-- call has none or its length is not known (a provider's link before its copy is made).
ALTER TABLE calls ADD COLUMN recording_secs INTEGER;
