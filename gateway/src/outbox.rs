//! Outbox directories watched per connector (`[[gateway.outbox]]`): a file dropped in one
//! is sent to the connector's partner.
//!
//! The directory is looked at every `poll_interval_ms` (polling: the same on every
//! platform and file system, network mounts included). A file is taken once it is
//! complete: its size and modification time are the same at two looks in a row, so a
//! file still being written, or copied in, waits. (A writer that cannot guarantee steady
//! progress writes under a name starting with `.`, which is never taken, and renames it
//! into place when done.) Only regular files are taken: not directories, not symbolic
//! links (which could point anywhere).
//!
//! A file taken is copied into the store's queue (`outbox/queue/<transfer-id>.<name>`,
//! where any instance sharing the store can send it), its transfer queued as
//! `POST /api/transfers` queues one, and only then is it removed from the directory. The
//! name the partner sees is the file's, neutralised: anything but ASCII letters, digits
//! and `.-_+@` becomes `_`, and leading dots go.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::config::OutboxDir;
use crate::db::Transfer;
use crate::gateway::Gateway;
use crate::send::transfer_id;
use crate::worker::{Source, queue_transfer_of};
use crate::{BoxError, QUEUE};

/// The longest file name kept (the rest is cut).
const MAX_NAME: usize = 200;

/// What a file looked like at one look: its size and modification time.
type Seen = (u64, Option<SystemTime>);

/// One watched directory.
pub struct OutboxWatcher {
    gateway: Arc<Gateway>,
    settings: OutboxDir,
    /// The files seen at the last look.
    seen: HashMap<OsString, Seen>,
    /// Files queued that could not be removed: not taken again while they stay as they
    /// were.
    stuck: HashMap<OsString, Seen>,
}

/// `name` as a file name safe to send and to store: ASCII letters, digits and `.-_+@`
/// kept, anything else (path separators, spaces, control and non-ASCII characters)
/// replaced by `_`, leading dots removed, at most 200 characters; `payload` if
/// nothing is left.
pub fn safe_file_name(name: &OsStr) -> String {
    let cleaned: String = name
        .to_string_lossy()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+' | '@') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let trimmed: String = cleaned
        .trim_start_matches('.')
        .chars()
        .take(MAX_NAME)
        .collect();
    if trimmed.is_empty() {
        "payload".to_owned()
    } else {
        trimmed
    }
}

impl OutboxWatcher {
    /// A watcher of `settings.dir` for `settings.connector` (the directory is created if
    /// need be).
    pub fn new(gateway: Arc<Gateway>, settings: OutboxDir) -> Self {
        OutboxWatcher {
            gateway,
            settings,
            seen: HashMap::new(),
            stuck: HashMap::new(),
        }
    }

    /// The directory watched.
    pub fn dir(&self) -> &std::path::Path {
        &self.settings.dir
    }

    /// One look at the directory: the files unchanged since the last look are taken.
    /// Returns the transfers queued.
    pub async fn poll(&mut self) -> Result<Vec<Transfer>, BoxError> {
        let dir = self.settings.dir.clone();
        let now = tokio::task::spawn_blocking(move || list(&dir)).await??;
        let mut complete = Vec::new();
        for (name, seen) in &now {
            if self.seen.get(name) == Some(seen) && self.stuck.get(name) != Some(seen) {
                complete.push((name.clone(), *seen));
            }
        }
        self.stuck.retain(|name, seen| now.get(name) == Some(seen));
        self.seen = now;
        let mut queued = Vec::new();
        for (name, seen) in complete {
            match self.take(&name, seen).await {
                Ok(Some(transfer)) => {
                    self.seen.remove(&name);
                    // Safely stored and queued: the file is ours now.
                    let path = self.settings.dir.join(&name);
                    if let Err(e) = tokio::fs::remove_file(&path).await {
                        error!(file = %path.display(), transfer = %transfer.id, error = %e,
                            "queued but not removed from the outbox: not taken again");
                        self.stuck.insert(name, seen);
                    }
                    queued.push(transfer);
                }
                Ok(None) => {}
                Err(e) => {
                    error!(dir = %self.settings.dir.display(), file = ?name, error = %e,
                        "cannot take a file from the outbox");
                }
            }
        }
        Ok(queued)
    }

    /// Copies a complete file into the store's queue and queues its transfer. `None` if
    /// it changed while being copied (it is looked at again).
    async fn take(&self, name: &OsStr, seen: Seen) -> Result<Option<Transfer>, BoxError> {
        let path = self.settings.dir.join(name);
        let file_name = safe_file_name(name);
        let storage = self.gateway.storage();
        let key = format!("{QUEUE}/{}.{file_name}", transfer_id());
        let stored = storage.put_file(&key, &path).await?;
        // Still as it was when found complete: else it is still being written to.
        let after = tokio::fs::symlink_metadata(&path).await?;
        if (after.len(), after.modified().ok()) != seen {
            storage.delete(&stored).await?;
            return Ok(None);
        }
        let queued = queue_transfer_of(
            &self.gateway,
            &self.settings.connector,
            Source::Stored(stored.clone()),
            file_name,
            self.settings.content_type.clone(),
        )
        .await;
        let transfer = match queued {
            Ok(transfer) => transfer,
            Err(e) => {
                let _ = storage.delete(&stored).await;
                return Err(e);
            }
        };
        info!(transfer = %transfer.id, file = %path.display(), key = %stored,
            "taken from the outbox");
        Ok(Some(transfer))
    }

    /// Polls until `stop` turns true.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let interval = Duration::from_millis(self.settings.poll_interval_ms);
        info!(dir = %self.settings.dir.display(), connector = %self.settings.connector,
            ?interval, "watching the outbox");
        loop {
            if *stop.borrow() {
                return;
            }
            if let Err(e) = self.poll().await {
                warn!(dir = %self.settings.dir.display(), error = %e, "cannot read the outbox");
            }
            tokio::select! {
                _ = stop.changed() => return,
                () = tokio::time::sleep(interval) => {}
            }
        }
    }
}

/// The regular files in `dir` (created if need be) whose names do not start with `.`.
fn list(dir: &std::path::Path) -> std::io::Result<HashMap<OsString, Seen>> {
    std::fs::create_dir_all(dir)?;
    let mut files = HashMap::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if name.as_encoded_bytes().starts_with(b".") {
            continue;
        }
        // Not followed: a symbolic link is not taken.
        let Ok(metadata) = std::fs::symlink_metadata(entry.path()) else {
            continue;
        };
        if metadata.is_file() {
            files.insert(name, (metadata.len(), metadata.modified().ok()));
        }
    }
    Ok(files)
}

/// Starts a watcher per `[[gateway.outbox]]`, each stopping when `stop` turns true.
pub fn start(
    gateway: &Arc<Gateway>,
    stop: &watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    gateway
        .settings()
        .outbox
        .iter()
        .map(|settings| {
            let watcher = OutboxWatcher::new(Arc::clone(gateway), settings.clone());
            tokio::spawn(watcher.run(stop.clone()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_lose_their_tricks() {
        for (given, safe) in [
            ("po-4711.x12", "po-4711.x12"),
            ("..", "payload"),
            ("...hidden", "hidden"),
            ("a b\\c:d", "a_b_c_d"),
            ("über.txt", "_ber.txt"),
            ("x\ny\u{0}", "x_y_"),
            ("", "payload"),
        ] {
            assert_eq!(safe_file_name(OsStr::new(given)), safe, "{given:?}");
        }
        let long = "a".repeat(500);
        assert_eq!(safe_file_name(OsStr::new(&long)).len(), MAX_NAME);
    }
}
