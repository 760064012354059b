-- What the agent heard on a softphone call: the E-model MOS and the share of audio lost or
-- concealed (the worse of packet loss and frames concealed, late or dropped in speech).
ALTER TABLE calls ADD COLUMN audio_mos REAL;
ALTER TABLE calls ADD COLUMN audio_loss_percent REAL;
