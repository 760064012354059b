//! Queues and voicemail as the desktop shows them: they live on the team server (a desktop
//! alone has neither), read by every agent, queues changed by admins, each message marked by
//! the agent reading it.

use ringdesk_core::queue::{
    Queue, QueueId, QueueInput, QueueNow, QueueSound, Voicemail, VoicemailId, VoicemailStatus,
};

use crate::directory::{Directory, DirectoryError};

impl Directory<'_> {
    pub async fn queues(&self) -> Result<Vec<QueueNow>, DirectoryError> {
        let (client, token) = self.team()?;
        Ok(client.queues(token).await?)
    }

    pub async fn save_queue(
        &self,
        id: Option<QueueId>,
        queue: &QueueInput,
    ) -> Result<Queue, DirectoryError> {
        let (client, token) = self.team()?;
        Ok(client.save_queue(token, id, queue).await?)
    }

    pub async fn delete_queue(&self, id: QueueId) -> Result<(), DirectoryError> {
        let (client, token) = self.team()?;
        Ok(client.delete_queue(token, id).await?)
    }

    pub async fn upload_queue_sound(
        &self,
        id: QueueId,
        sound: QueueSound,
        bytes: Vec<u8>,
    ) -> Result<(), DirectoryError> {
        let (client, token) = self.team()?;
        Ok(client.upload_queue_sound(token, id, sound, bytes).await?)
    }

    pub async fn remove_queue_sound(
        &self,
        id: QueueId,
        sound: QueueSound,
    ) -> Result<(), DirectoryError> {
        let (client, token) = self.team()?;
        Ok(client.remove_queue_sound(token, id, sound).await?)
    }

    /// Whether the agent greets callers with their own recording.
    pub async fn my_greeting(&self) -> Result<bool, DirectoryError> {
        let (client, token) = self.team()?;
        Ok(client.my_greeting(token).await?)
    }

    /// The agent's own greeting (WAV or MP3), or back to the spoken one (None).
    pub async fn set_my_greeting(&self, recording: Option<Vec<u8>>) -> Result<(), DirectoryError> {
        let (client, token) = self.team()?;
        Ok(client.set_my_greeting(token, recording).await?)
    }

    /// The messages in this agent's box and their queues' (none on a desktop alone: its
    /// calls are answered by the provider's voicemail, if any).
    pub async fn voicemails(
        &self,
        status: Option<VoicemailStatus>,
        search: Option<&str>,
    ) -> Result<Vec<Voicemail>, DirectoryError> {
        match self {
            Directory::Solo(_) => Ok(Vec::new()),
            Directory::Team { client, token, .. } => {
                Ok(client.voicemails(token, status, search).await?)
            }
        }
    }

    pub async fn voicemail_audio(&self, id: VoicemailId) -> Result<Vec<u8>, DirectoryError> {
        let (client, token) = self.team()?;
        Ok(client.voicemail_audio(token, id).await?)
    }

    pub async fn set_voicemail_status(
        &self,
        id: VoicemailId,
        status: VoicemailStatus,
    ) -> Result<(), DirectoryError> {
        let (client, token) = self.team()?;
        Ok(client.set_voicemail_status(token, id, status).await?)
    }
}
