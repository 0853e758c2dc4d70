//! Payloads, `.mdn` files and JSON status records, in the reference layout, through
//! [`object_store`]: the local file system by default (the data directory), any
//! S3-compatible bucket later, without a change here.
//!
//! A file is never replaced: a second file under a taken name gets `.2`, `.3`, ...
//! before its last extension. Small files are written with [`PutMode::Create`]; a payload
//! (of any size) is spooled to a local temporary file as it arrives, streamed into the
//! store under a staging name in bounded chunks, then renamed into place with
//! `rename_if_not_exists`, so no reader ever sees half a file.

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, WriteMultipart};

use crate::files::TempFile;

/// How much of a payload is uploaded at a time.
const UPLOAD_CHUNK: usize = 1024 * 1024;

/// Where files go.
#[derive(Clone, Debug)]
pub struct Storage {
    store: Arc<dyn ObjectStore>,
    /// The local directory for temporary files (payloads as they arrive, spooled bodies).
    spool: PathBuf,
    /// Set for the local file system store: its root.
    local_root: Option<PathBuf>,
}

fn to_io(e: object_store::Error) -> io::Error {
    match e {
        object_store::Error::AlreadyExists { .. } => {
            io::Error::new(io::ErrorKind::AlreadyExists, e.to_string())
        }
        object_store::Error::NotFound { .. } => {
            io::Error::new(io::ErrorKind::NotFound, e.to_string())
        }
        e => io::Error::other(e.to_string()),
    }
}

fn object_path(relative: &str) -> io::Result<ObjectPath> {
    if !as2_proto::partner::is_safe_relative_path(relative) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("unsafe path {relative:?}"),
        ));
    }
    ObjectPath::parse(relative)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{relative:?}: {e}")))
}

impl Storage {
    /// The local file system under `root` (created if need be); temporary files go to
    /// `root/.spool`.
    pub fn local(root: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(root)?;
        let root = root.canonicalize()?;
        let store = LocalFileSystem::new_with_prefix(&root).map_err(to_io)?;
        Ok(Storage {
            store: Arc::new(store),
            spool: root.join(".spool"),
            local_root: Some(root),
        })
    }

    /// Any object store, with temporary files in the local directory `spool`.
    pub fn new(store: Arc<dyn ObjectStore>, spool: PathBuf) -> Self {
        Storage {
            store,
            spool,
            local_root: None,
        }
    }

    /// The local directory of a file system store.
    pub fn local_root(&self) -> Option<&Path> {
        self.local_root.as_deref()
    }

    /// A new temporary file, removed when dropped unless [`Storage::persist`] takes it.
    pub fn temp_file(&self) -> io::Result<TempFile> {
        TempFile::create_in(&self.spool)
    }

    /// Writes `bytes` at `relative`, or at the first free `name.N.ext`. Returns the path
    /// written.
    pub async fn put_new(&self, relative: &str, bytes: &[u8]) -> io::Result<String> {
        let payload = PutPayload::from(bytes.to_vec());
        for n in 1..=1000 {
            let candidate = crate::files::numbered(relative, n);
            let path = object_path(&candidate)?;
            let options = PutOptions {
                mode: PutMode::Create,
                ..PutOptions::default()
            };
            match self.store.put_opts(&path, payload.clone(), options).await {
                Ok(_) => return Ok(candidate),
                Err(object_store::Error::AlreadyExists { .. }) => continue,
                Err(e) => return Err(to_io(e)),
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{relative}: no free name"),
        ))
    }

    /// Streams the complete `temp` into the store at `relative` (or the first free
    /// `name.N.ext`) in chunks of 1 MiB; returns the path written.
    pub async fn persist(&self, relative: &str, temp: TempFile) -> io::Result<String> {
        object_path(relative)?;
        let (dir, _) = relative.rsplit_once('/').unwrap_or(("", relative));
        let staging_name = format!(
            "{}staging-{}",
            if dir.is_empty() {
                String::new()
            } else {
                format!("{dir}/")
            },
            crate::send::transfer_id()
        );
        let staging = object_path(&staging_name)?;
        let mut temp = temp;
        let mut file = temp.reopen()?;
        let upload = self.store.put_multipart(&staging).await.map_err(to_io)?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, UPLOAD_CHUNK);
        let mut chunk = vec![0u8; UPLOAD_CHUNK];
        loop {
            // Bounded memory: at most two chunks in flight.
            writer.wait_for_capacity(2).await.map_err(to_io)?;
            let n = tokio::task::block_in_place(|| crate::send::read_chunk(&mut file, &mut chunk))?;
            if n == 0 {
                break;
            }
            writer.write(chunk.get(..n).unwrap_or_default());
        }
        writer.finish().await.map_err(to_io)?;
        drop(temp);
        for n in 1..=1000 {
            let candidate = crate::files::numbered(relative, n);
            let path = object_path(&candidate)?;
            match self.store.rename_if_not_exists(&staging, &path).await {
                Ok(()) => return Ok(candidate),
                Err(object_store::Error::AlreadyExists { .. }) => continue,
                Err(e) => {
                    let _ = self.store.delete(&staging).await;
                    return Err(to_io(e));
                }
            }
        }
        let _ = self.store.delete(&staging).await;
        Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{relative}: no free name"),
        ))
    }

    /// The whole object at `relative`.
    pub async fn get(&self, relative: &str) -> io::Result<Vec<u8>> {
        let path = object_path(relative)?;
        let result = self.store.get(&path).await.map_err(to_io)?;
        Ok(result.bytes().await.map_err(to_io)?.to_vec())
    }

    /// A reader of the object at `relative`, streamed (for the blocking thread that builds
    /// a message from it).
    pub async fn open(&self, relative: &str) -> io::Result<(Box<dyn Read + Send>, u64)> {
        let path = object_path(relative)?;
        if let Some(root) = &self.local_root {
            let file = std::fs::File::open(root.join(relative))?;
            let len = file.metadata()?.len();
            return Ok((Box::new(file), len));
        }
        let result = self.store.get(&path).await.map_err(to_io)?;
        let len = result.meta.size;
        let bytes = result.bytes().await.map_err(to_io)?;
        Ok((Box::new(io::Cursor::new(bytes)), len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn files_are_never_replaced_and_payloads_stream_in() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::local(dir.path()).unwrap();
        let path = "in/processed/a.id.dat.json";
        assert_eq!(storage.put_new(path, b"one").await.unwrap(), path);
        assert_eq!(
            storage.put_new(path, b"two").await.unwrap(),
            "in/processed/a.id.dat.2.json"
        );
        for unsafe_path in ["../x", "/etc/x", "a/../../x", ""] {
            let e = storage.put_new(unsafe_path, b"x").await.unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{unsafe_path}");
        }
        // A payload over several upload chunks, twice under one name.
        let payload: Vec<u8> = (0..UPLOAD_CHUNK * 2 + 123)
            .map(|i| (i % 251) as u8)
            .collect();
        for expected in ["in/processed/p.dat", "in/processed/p.2.dat"] {
            let mut temp = storage.temp_file().unwrap();
            temp.write(&payload).unwrap();
            assert_eq!(
                storage.persist("in/processed/p.dat", temp).await.unwrap(),
                expected
            );
            assert_eq!(storage.get(expected).await.unwrap(), payload);
        }
        assert_eq!(storage.get(path).await.unwrap(), b"one");
        // Nothing staged or spooled is left behind.
        let mut left: Vec<_> = std::fs::read_dir(dir.path().join("in/processed"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(
            left,
            ["a.id.dat.2.json", "a.id.dat.json", "p.2.dat", "p.dat"]
        );
        assert_eq!(
            std::fs::read_dir(dir.path().join(".spool"))
                .unwrap()
                .count(),
            0
        );
    }
}
