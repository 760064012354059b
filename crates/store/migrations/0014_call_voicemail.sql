-- The message a caller left when nobody answered (JSON: duration and transcription).
ALTER TABLE calls ADD COLUMN voicemail TEXT;
