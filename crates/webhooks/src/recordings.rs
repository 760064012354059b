//! A provider's recording kept by the host that heard it was ready (the team server, or the
//! desktop in solo mode): fetched through the provider's adapter and written whole, so a
//! reader never finds half a file.

use std::path::{Path, PathBuf};

use ringdesk_core::ports::ProviderAdapter;
use ringdesk_core::ProviderError;

#[derive(Debug, thiserror::Error)]
pub enum KeepError {
    #[error("the provider: {0}")]
    Provider(#[from] ProviderError),
    #[error("cannot write the recording: {0}")]
    Disk(#[from] std::io::Error),
}

/// Fetches the recording at `url` and writes it to `<stem>.mp3` or `<stem>.wav` (a temporary
/// file renamed into place). Returns the file and its size.
pub async fn keep(
    adapter: &dyn ProviderAdapter,
    url: &str,
    stem: &Path,
) -> Result<(PathBuf, usize), KeepError> {
    let audio = adapter.fetch_recording(url).await?;
    let path = stem.with_extension(audio.extension);
    let size = audio.bytes.len();
    let target = path.clone();
    tokio::task::spawn_blocking(move || {
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let partial = target.with_extension("partial");
        std::fs::write(&partial, audio.bytes)?;
        std::fs::rename(&partial, &target)
    })
    .await
    .map_err(std::io::Error::other)??;
    Ok((path, size))
}
