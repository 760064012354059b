//! Queues and voicemail as the desktop shows them: they live on the team server (a desktop
//! alone has neither), read by every agent, queues changed by admins, each message marked by
//! the agent reading it.

use ringdesk_core::queue::{
    Queue, QueueId, QueueInput, QueueNow, Voicemail, VoicemailId, VoicemailStatus,
};

use crate::directory::{Directory, DirectoryError};

impl Directory<'_> {
    pub async fn queues(&self) -> Result<Vec<QueueNow>, DirectoryError> {
        match self {
            Directory::Solo(_) => Err(DirectoryError::NotInTeam),
            Directory::Team { client, token, .. } => Ok(client.queues(token).await?),
        }
    }

    pub async fn save_queue(
        &self,
        id: Option<QueueId>,
        queue: &QueueInput,
    ) -> Result<Queue, DirectoryError> {
        match self {
            Directory::Solo(_) => Err(DirectoryError::NotInTeam),
            Directory::Team { client, token, .. } => {
                Ok(client.save_queue(token, id, queue).await?)
            }
        }
    }

    pub async fn delete_queue(&self, id: QueueId) -> Result<(), DirectoryError> {
        match self {
            Directory::Solo(_) => Err(DirectoryError::NotInTeam),
            Directory::Team { client, token, .. } => Ok(client.delete_queue(token, id).await?),
        }
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
        match self {
            Directory::Solo(_) => Err(DirectoryError::NotInTeam),
            Directory::Team { client, token, .. } => Ok(client.voicemail_audio(token, id).await?),
        }
    }

    pub async fn set_voicemail_status(
        &self,
        id: VoicemailId,
        status: VoicemailStatus,
    ) -> Result<(), DirectoryError> {
        match self {
            Directory::Solo(_) => Err(DirectoryError::NotInTeam),
            Directory::Team { client, token, .. } => {
                Ok(client.set_voicemail_status(token, id, status).await?)
            }
        }
    }
}
