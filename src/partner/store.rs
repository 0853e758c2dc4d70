//! Where received files, status records and MDNs go, and which Message-IDs were seen.

use core::fmt;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;

use crate::message::headers::{As2Id, MessageId};
use crate::message::inbound::{Duplicate, DuplicateCheck, StoredMdn};

/// A store of files, addressed by relative paths such as
/// `AS2-folder/processed/file.<message-id>.dat` (the agreement's base directory, then the
/// reference's layout).
///
/// Paths use `/` separators and are relative; implementations must refuse anything
/// [`is_safe_relative_path`] rejects, since file names come from the partner.
pub trait Storage {
    /// Stores `bytes` at `path`, replacing what was there, atomically from the caller's
    /// point of view: a reader sees the old content or all of the new, never a part (a
    /// filesystem store writes a temporary file and renames it; an object store's PUT is
    /// already atomic).
    fn put(&self, path: &str, bytes: &[u8]) -> Result<(), StorageError>;

    /// Reads the whole file at `path`: the file an outbound transfer sends
    /// ([`SendFile::read`](super::SendFile::read)). A missing file must be reported as
    /// [`StorageError::not_found`] (the reference's `SEND_FILE_NOT_FOUND`).
    fn read(&self, path: &str) -> Result<Vec<u8>, StorageError>;
}

/// What kind of storage failure a [`StorageError`] is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum StorageErrorKind {
    /// No file at the path.
    NotFound,
    /// The store refused access to the path.
    PermissionDenied,
    /// Anything else.
    #[default]
    Other,
}

/// A storage failure reported by the caller's [`Storage`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct StorageError {
    /// The path being read or written.
    pub path: String,
    /// The store's message.
    pub message: String,
    /// What kind of failure.
    pub kind: StorageErrorKind,
}

impl StorageError {
    /// A storage error for `path` ([`StorageErrorKind::Other`]).
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        StorageError {
            path: path.into(),
            message: message.into(),
            kind: StorageErrorKind::Other,
        }
    }

    /// No file at `path` ([`StorageErrorKind::NotFound`]).
    pub fn not_found(path: impl Into<String>) -> Self {
        StorageError {
            path: path.into(),
            message: "not found".into(),
            kind: StorageErrorKind::NotFound,
        }
    }

    /// The same error with `kind`.
    pub fn with_kind(mut self, kind: StorageErrorKind) -> Self {
        self.kind = kind;
        self
    }

    /// The error for an [`std::io::Error`] at `path`, its kind carried over (for a
    /// filesystem [`Storage`]).
    pub fn from_io(path: impl Into<String>, error: &std::io::Error) -> Self {
        let kind = match error.kind() {
            std::io::ErrorKind::NotFound => StorageErrorKind::NotFound,
            std::io::ErrorKind::PermissionDenied => StorageErrorKind::PermissionDenied,
            _ => StorageErrorKind::Other,
        };
        StorageError::new(path, error.to_string()).with_kind(kind)
    }
}

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "storage error at {:?}: {}", self.path, self.message)
    }
}

impl std::error::Error for StorageError {}

/// Whether `path` is a relative `/`-separated path that stays below its root: not empty,
/// no leading `/`, no empty, `.` or `..` segments, no backslashes, drive letters or control
/// characters.
pub fn is_safe_relative_path(path: &str) -> bool {
    !path.is_empty()
        && !path
            .chars()
            .any(|c| c.is_control() || c == '\\' || c == ':')
        && path
            .split('/')
            .all(|segment| !matches!(segment, "" | "." | ".."))
}

/// A [`Storage`] in memory, for tests and examples.
#[derive(Debug, Default)]
pub struct MemoryStorage {
    files: Mutex<BTreeMap<String, Vec<u8>>>,
}

impl MemoryStorage {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn files(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Vec<u8>>> {
        // A panic elsewhere while holding the lock cannot leave a map half-written.
        self.files.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The bytes at `path`.
    pub fn get(&self, path: &str) -> Option<Vec<u8>> {
        self.files().get(path).cloned()
    }

    /// Every stored path, sorted.
    pub fn paths(&self) -> Vec<String> {
        self.files().keys().cloned().collect()
    }
}

impl Storage for MemoryStorage {
    fn put(&self, path: &str, bytes: &[u8]) -> Result<(), StorageError> {
        if !is_safe_relative_path(path) {
            return Err(StorageError::new(path, "not a safe relative path"));
        }
        self.files().insert(path.to_owned(), bytes.to_vec());
        Ok(())
    }

    fn read(&self, path: &str) -> Result<Vec<u8>, StorageError> {
        if !is_safe_relative_path(path) {
            return Err(StorageError::new(path, "not a safe relative path"));
        }
        self.get(path).ok_or_else(|| StorageError::not_found(path))
    }
}

/// A bounded in-memory [`DuplicateCheck`]: remembers the last `capacity` Message-IDs per
/// store (oldest forgotten first), keyed by sender and bare Message-ID, with the MDN sent
/// for each when the caller [stores](DuplicateCheck::store_mdn) it (an MDN is a few
/// kilobytes: mind it when choosing `capacity`).
#[derive(Clone, Debug)]
pub struct MemoryDuplicateStore {
    seen: HashMap<(As2Id, String), Option<StoredMdn>>,
    order: VecDeque<(As2Id, String)>,
    capacity: usize,
}

impl MemoryDuplicateStore {
    /// A store remembering up to `capacity` Message-IDs (at least one).
    pub fn new(capacity: usize) -> Self {
        MemoryDuplicateStore {
            seen: HashMap::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// How many Message-IDs are remembered.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

impl DuplicateCheck for MemoryDuplicateStore {
    fn check_and_record(&mut self, from: &As2Id, message_id: &MessageId) -> bool {
        self.check(from, message_id).is_duplicate()
    }

    fn check(&mut self, from: &As2Id, message_id: &MessageId) -> Duplicate {
        let key = (from.clone(), message_id.bare().to_owned());
        if let Some(mdn) = self.seen.get(&key) {
            return mdn.clone().map_or(Duplicate::Seen, Duplicate::SeenWithMdn);
        }
        if self.order.len() >= self.capacity
            && let Some(oldest) = self.order.pop_front()
        {
            self.seen.remove(&oldest);
        }
        self.seen.insert(key.clone(), None);
        self.order.push_back(key);
        Duplicate::New
    }

    /// Keeps the first MDN stored for a remembered Message-ID; ignores the others.
    fn store_mdn(&mut self, from: &As2Id, message_id: &MessageId, mdn: StoredMdn) {
        let key = (from.clone(), message_id.bare().to_owned());
        if let Some(slot @ None) = self.seen.get_mut(&key) {
            *slot = Some(mdn);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_paths() {
        for ok in [
            "a",
            "AS2-folder/processed/x.dat",
            "a/b.c/d",
            "file.<id@host>.dat",
        ] {
            assert!(is_safe_relative_path(ok), "{ok}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "a//b",
            "a/./b",
            "../x",
            "a/..",
            "a\\b",
            "C:x",
            "a\nb",
            "a/",
        ] {
            assert!(!is_safe_relative_path(bad), "{bad:?}");
        }
    }

    #[test]
    fn duplicate_store_forgets_oldest() {
        let from = As2Id::new("P").unwrap();
        let id = |n: u32| MessageId::parse(format!("<m{n}@x>").as_bytes()).unwrap();
        let mut store = MemoryDuplicateStore::new(2);
        assert!(!store.check_and_record(&from, &id(1)));
        assert!(store.check_and_record(&from, &id(1)));
        assert!(!store.check_and_record(&from, &id(2)));
        assert!(!store.check_and_record(&from, &id(3)));
        assert_eq!(store.len(), 2);
        // m1 was forgotten, m2 and m3 are remembered.
        assert!(store.check_and_record(&from, &id(3)));
        assert!(store.check_and_record(&from, &id(2)));
        assert!(!store.check_and_record(&from, &id(1)));
        // Another sender's m2 is not a duplicate.
        assert!(!store.check_and_record(&As2Id::new("Q").unwrap(), &id(2)));
    }

    #[test]
    fn duplicate_store_keeps_the_first_mdn_of_a_recorded_message() {
        let from = As2Id::new("P").unwrap();
        let id = |n: u32| MessageId::parse(format!("<m{n}@x>").as_bytes()).unwrap();
        let mdn = |text: &str| StoredMdn::new(Default::default(), text.as_bytes().to_vec());
        let mut store = MemoryDuplicateStore::new(2);
        // Not recorded (a refused message): ignored.
        store.store_mdn(&from, &id(1), mdn("refused"));
        assert_eq!(store.check(&from, &id(1)), Duplicate::New);
        assert_eq!(store.check(&from, &id(1)), Duplicate::Seen);
        store.store_mdn(&from, &id(1), mdn("first"));
        store.store_mdn(&from, &id(1), mdn("second"));
        // The bare Message-ID is the key: angle brackets or not.
        let bare = MessageId::parse(b"m1@x").unwrap();
        assert_eq!(
            store.check(&from, &bare),
            Duplicate::SeenWithMdn(mdn("first"))
        );
        assert!(store.check_and_record(&from, &id(1)));
        // Forgotten with its Message-ID.
        assert_eq!(store.check(&from, &id(2)), Duplicate::New);
        assert_eq!(store.check(&from, &id(3)), Duplicate::New);
        assert_eq!(store.check(&from, &id(1)), Duplicate::New);
    }
}
