-- Where the provider keeps a message's audio, kept until the server has its own copy: a copy
-- that failed is tried again later from here.
ALTER TABLE voicemails ADD COLUMN recording_url TEXT;
