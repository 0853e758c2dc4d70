//! Payloads, `.mdn` files, JSON status records and uploaded files awaiting delivery, in
//! the reference layout (the crate docs), through [`object_store`]: the local file system
//! under the data directory by default, or an S3-compatible bucket
//! (`storage = "s3://bucket/prefix"`), where several instances share them.
//!
//! Keys are the layout's relative paths (`PartnerB/inbox/processed/name.<id>.ext.json`),
//! under the bucket's prefix. A file is never replaced: a second file under a taken name
//! gets `.2`, `.3`, ... before its last extension, each name tried with
//! [`PutMode::Create`] (S3: `If-None-Match: *`), so two instances cannot both take one.
//!
//! Temporary files stay local, in the spool directory (`DATA/.spool`): a payload as it
//! arrives, an upload's body. On the local file system an accepted one is hard-linked
//! into place (no copy). On S3 a small one (up to [`UPLOAD_CHUNK`]) is one conditional
//! PUT; a larger one is streamed from the spool file in a multipart upload of
//! [`UPLOAD_CHUNK`] parts (never read whole) to a staging key beside its target, then
//! copied to the first free name with copy-if-not-exists (S3's `UploadPartCopy`
//! completed with `If-None-Match: *`) and the staging key deleted, so no reader sees half
//! a file. Reads for sending stream: [`Storage::open`] hands the blocking thread that
//! builds the message a reader fed by the object's `GET` body (see there why).

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use object_store::aws::{AmazonS3Builder, S3CopyIfNotExists};
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, WriteMultipart};
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

use crate::config::GatewaySettings;
use crate::files::{TempFile, numbered};

/// The part size of a multipart upload, and the largest file written with one PUT
/// (S3 wants parts of at least 5 MiB, the last one excepted).
pub const UPLOAD_CHUNK: usize = 8 * 1024 * 1024;
/// Parts of one upload in flight at once (memory per upload: about this many parts plus
/// one being filled).
const PARTS_IN_FLIGHT: usize = 2;
/// Chunks of an object being read between the task that fetches it and the thread that
/// reads it.
const READ_AHEAD: usize = 4;
/// Names tried before a file is refused (`name.ext`, `name.2.ext`, ...).
const MAX_NUMBERED: u32 = 1000;

/// Where files go.
#[derive(Clone, Debug)]
pub struct Storage {
    store: Arc<dyn ObjectStore>,
    /// The local directory for temporary files (payloads as they arrive, spooled bodies).
    spool: PathBuf,
    /// Set for the local file system store: its root.
    local_root: Option<PathBuf>,
    /// The store as users name it: its root directory, or `s3://bucket/prefix`.
    location: String,
}

/// A failure to read an object being sent (the store went away mid-body): unlike a
/// local file that cannot be read, worth a resend.
#[derive(Debug)]
pub struct StoreReadFailed(pub String);

impl std::fmt::Display for StoreReadFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "reading from the store failed: {}", self.0)
    }
}

impl std::error::Error for StoreReadFailed {}

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

fn invalid(why: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, why)
}

/// `s3://bucket[/prefix]` as the bucket and the prefix (without slashes at its ends).
pub fn parse_s3_url(url: &str) -> io::Result<(String, String)> {
    let rest = url
        .strip_prefix("s3://")
        .ok_or_else(|| invalid(format!("storage {url:?}: only s3://bucket/prefix is known")))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(invalid(format!("storage {url:?}: no bucket")));
    }
    let prefix = prefix.trim_matches('/');
    if !prefix.is_empty() && !as2_proto::partner::is_safe_relative_path(prefix) {
        return Err(invalid(format!("storage {url:?}: unsafe prefix")));
    }
    Ok((bucket.to_owned(), prefix.to_owned()))
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
            location: root.display().to_string(),
            local_root: Some(root),
        })
    }

    /// Any object store, with temporary files in the local directory `spool`;
    /// `location` names it in logs and in the paths shown to users.
    pub fn new(store: Arc<dyn ObjectStore>, spool: PathBuf, location: String) -> Self {
        Storage {
            store,
            spool,
            local_root: None,
            location,
        }
    }

    /// The store the `[gateway]` settings name: `storage = "s3://bucket/prefix"` (with
    /// `s3_endpoint`, `s3_region`, `s3_access_key_id`, `s3_secret_access_key`,
    /// `s3_allow_http`, each else from the standard `AWS_*` environment variables), else
    /// the data directory. Temporary files are spooled in `data_dir/.spool` either way.
    pub fn from_settings(settings: &GatewaySettings) -> io::Result<Self> {
        let Some(url) = &settings.storage else {
            return Storage::local(&settings.data_dir);
        };
        let (bucket, prefix) = parse_s3_url(url)?;
        // reqwest is built without a crypto provider: the process-wide one is `ring`.
        let _ = crate::http::ring_provider().install_default();
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(&bucket)
            // Large files are staged, then copied to their name only if it is free.
            .with_copy_if_not_exists(S3CopyIfNotExists::Multipart);
        if let Some(endpoint) = &settings.s3_endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        if let Some(region) = &settings.s3_region {
            builder = builder.with_region(region);
        }
        if let Some(key) = &settings.s3_access_key_id {
            builder = builder.with_access_key_id(key);
        }
        if let Some(secret) = &settings.s3_secret_access_key {
            builder = builder.with_secret_access_key(secret);
        }
        if settings.s3_allow_http {
            builder = builder.with_allow_http(true);
        }
        let s3 = builder.build().map_err(to_io)?;
        let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
            Arc::new(s3)
        } else {
            Arc::new(PrefixStore::new(s3, object_path(&prefix)?))
        };
        let location = format!("s3://{bucket}/{prefix}");
        let location = location.trim_end_matches('/').to_owned();
        std::fs::create_dir_all(&settings.data_dir)?;
        Ok(Storage::new(
            store,
            settings.data_dir.join(".spool"),
            location,
        ))
    }

    /// The local directory of a file system store.
    pub fn local_root(&self) -> Option<&Path> {
        self.local_root.as_deref()
    }

    /// The store as users name it: its root directory, or `s3://bucket/prefix`.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Where the file at `relative` is, for people: a local path, or
    /// `s3://bucket/prefix/relative`.
    pub fn display_path(&self, relative: &str) -> PathBuf {
        match &self.local_root {
            Some(root) => root.join(relative),
            None => PathBuf::from(format!("{}/{relative}", self.location)),
        }
    }

    /// A new temporary file in the spool directory, removed when dropped unless
    /// [`Storage::persist`] takes it.
    pub fn temp_file(&self) -> io::Result<TempFile> {
        TempFile::create_in(&self.spool)
    }

    /// Writes `bytes` at `relative`, or at the first free `name.N.ext`. Returns the path
    /// written.
    pub async fn put_new(&self, relative: &str, bytes: &[u8]) -> io::Result<String> {
        self.put_payload(relative, PutPayload::from(bytes.to_vec()))
            .await
    }

    async fn put_payload(&self, relative: &str, payload: PutPayload) -> io::Result<String> {
        for n in 1..=MAX_NUMBERED {
            let candidate = numbered(relative, n);
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
        Err(no_free_name(relative))
    }

    /// Puts the complete `temp` in the store at `relative` (or the first free
    /// `name.N.ext`); returns the path written. The temporary file is gone afterwards.
    pub async fn persist(&self, relative: &str, mut temp: TempFile) -> io::Result<String> {
        object_path(relative)?;
        if let Some(root) = &self.local_root {
            let root = root.clone();
            let relative = relative.to_owned();
            return tokio::task::spawn_blocking(move || link_new(&root, &relative, temp))
                .await
                .map_err(io::Error::other)?;
        }
        let len = temp.len();
        let file = temp.reopen()?;
        let written = self.upload_new(relative, file, len).await;
        drop(temp);
        written
    }

    /// Copies the local file at `source` into the store at `relative` (or the first free
    /// `name.N.ext`), streamed; returns the path written. `source` is left as it is.
    pub async fn put_file(&self, relative: &str, source: &Path) -> io::Result<String> {
        object_path(relative)?;
        if self.local_root.is_some() {
            // Copied into the spool, then linked into place.
            let mut temp = self.temp_file()?;
            let source = source.to_owned();
            let temp = tokio::task::spawn_blocking(move || -> io::Result<TempFile> {
                let mut file = std::fs::File::open(&source)?;
                let mut chunk = vec![0u8; crate::CHUNK];
                loop {
                    let n = crate::send::read_chunk(&mut file, &mut chunk)?;
                    if n == 0 {
                        return Ok(temp);
                    }
                    temp.write(chunk.get(..n).unwrap_or_default())?;
                }
            })
            .await
            .map_err(io::Error::other)??;
            return self.persist(relative, temp).await;
        }
        let file = std::fs::File::open(source)?;
        let len = file.metadata()?.len();
        self.upload_new(relative, file, len).await
    }

    /// [`Storage::persist`] for an object store: one conditional PUT for a small file,
    /// else a multipart upload to a staging key, copied to the first free name.
    async fn upload_new(
        &self,
        relative: &str,
        file: std::fs::File,
        len: u64,
    ) -> io::Result<String> {
        let mut file = tokio::fs::File::from_std(file);
        if len <= crate::files::len_u64(UPLOAD_CHUNK) {
            // Small enough to hold: one PUT, with If-None-Match.
            let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
            file.read_to_end(&mut bytes).await?;
            return self.put_payload(relative, PutPayload::from(bytes)).await;
        }
        let (dir, _) = relative.rsplit_once('/').unwrap_or(("", relative));
        let staging_name = match dir {
            "" => format!("staging-{}.part", crate::send::transfer_id()),
            dir => format!("{dir}/staging-{}.part", crate::send::transfer_id()),
        };
        let staging = object_path(&staging_name)?;
        let upload = self.store.put_multipart(&staging).await.map_err(to_io)?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, UPLOAD_CHUNK);
        let uploaded = async {
            let mut chunk = vec![0u8; crate::CHUNK];
            loop {
                // Bounded memory: a few parts in flight, whatever the file's size.
                writer
                    .wait_for_capacity(PARTS_IN_FLIGHT)
                    .await
                    .map_err(to_io)?;
                let n = file.read(&mut chunk).await?;
                if n == 0 {
                    return Ok::<(), io::Error>(());
                }
                writer.write(chunk.get(..n).unwrap_or_default());
            }
        }
        .await;
        match uploaded {
            Ok(()) => {
                writer.finish().await.map_err(to_io)?;
            }
            Err(e) => {
                let _ = writer.abort().await;
                return Err(e);
            }
        }
        let placed = async {
            for n in 1..=MAX_NUMBERED {
                let candidate = numbered(relative, n);
                let path = object_path(&candidate)?;
                match self.store.copy_if_not_exists(&staging, &path).await {
                    Ok(()) => return Ok(candidate),
                    Err(object_store::Error::AlreadyExists { .. }) => continue,
                    Err(e) => return Err(to_io(e)),
                }
            }
            Err(no_free_name(relative))
        }
        .await;
        if let Err(e) = self.store.delete(&staging).await {
            tracing::warn!(key = %staging, error = %e, "staging object not deleted");
        }
        placed
    }

    /// The whole object at `relative` (small files: records, MDNs).
    pub async fn get(&self, relative: &str) -> io::Result<Vec<u8>> {
        let path = object_path(relative)?;
        let result = self.store.get(&path).await.map_err(to_io)?;
        Ok(result.bytes().await.map_err(to_io)?.to_vec())
    }

    /// A reader of the object at `relative` and its length, for the blocking thread that
    /// builds a message from it.
    ///
    /// A local file is opened as it is. An object is streamed: its `GET` body flows into
    /// the reader through a channel of a few chunks, so a resend of a 1 GiB file costs
    /// neither 1 GiB of memory nor a local copy, and the first octet goes out at once.
    /// (Downloading it to the spool first would let an attempt fail before the partner
    /// sees a byte when the store breaks; here the read fails mid-body instead, with
    /// [`StoreReadFailed`], which the sender treats as a failed attempt worth a resend.)
    /// Must be called within the runtime (the `GET` runs on it).
    pub async fn open(&self, relative: &str) -> io::Result<(Box<dyn Read + Send>, u64)> {
        let path = object_path(relative)?;
        if let Some(root) = &self.local_root {
            let file = std::fs::File::open(root.join(relative))?;
            let metadata = file.metadata()?;
            if !metadata.is_file() {
                return Err(invalid(format!("{relative}: not a file")));
            }
            return Ok((Box::new(file), metadata.len()));
        }
        let result = self.store.get(&path).await.map_err(to_io)?;
        let len = result.meta.size;
        let (chunks, receiver) = mpsc::channel(READ_AHEAD);
        let mut stream = result.into_stream();
        tokio::spawn(async move {
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| io::Error::other(StoreReadFailed(e.to_string())));
                let failed = chunk.is_err();
                // The reader went away (the attempt ended): stop fetching.
                if chunks.send(chunk).await.is_err() || failed {
                    break;
                }
            }
        });
        let reader = ObjectReader {
            chunks: receiver,
            current: Bytes::new(),
            remaining: len,
        };
        Ok((Box::new(reader), len))
    }

    /// Removes the object at `relative` (a missing one is no error).
    pub async fn delete(&self, relative: &str) -> io::Result<()> {
        let path = object_path(relative)?;
        match self.store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(to_io(e)),
        }
    }
}

fn no_free_name(relative: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("{relative}: no free name"),
    )
}

/// Links the complete `temp` in at `root/relative`, or at the first free `name.N.ext`
/// (the spool is on the same file system as the root), then drops its temporary name.
fn link_new(root: &Path, relative: &str, mut temp: TempFile) -> io::Result<String> {
    temp.flush()?;
    let target = root.join(relative);
    if let Some(dir) = target.parent() {
        std::fs::create_dir_all(dir)?;
    }
    for n in 1..=MAX_NUMBERED {
        let candidate = numbered(relative, n);
        match std::fs::hard_link(temp.path(), root.join(&candidate)) {
            Ok(()) => return Ok(candidate),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(no_free_name(relative))
    // Dropping `temp` removes the temporary name.
}

/// An object's `GET` body as a blocking [`Read`], fed by a task on the runtime. It ends
/// with an error, not silently, if the body stops short of the object's length.
struct ObjectReader {
    chunks: mpsc::Receiver<io::Result<Bytes>>,
    current: Bytes,
    remaining: u64,
}

impl Read for ObjectReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.chunks.blocking_recv() {
                Some(chunk) => self.current = chunk?,
                None if self.remaining == 0 => return Ok(0),
                None => {
                    return Err(io::Error::other(StoreReadFailed(format!(
                        "the object ended {} bytes short",
                        self.remaining
                    ))));
                }
            }
        }
        let n = buf.len().min(self.current.len());
        let chunk = self.current.split_to(n);
        buf.get_mut(..n).unwrap_or_default().copy_from_slice(&chunk);
        self.remaining = self.remaining.saturating_sub(crate::files::len_u64(n));
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_urls_name_a_bucket_and_a_safe_prefix() {
        assert_eq!(
            parse_s3_url("s3://b/p/q/").unwrap(),
            ("b".into(), "p/q".into())
        );
        assert_eq!(parse_s3_url("s3://b").unwrap(), ("b".into(), String::new()));
        for bad in ["s3://", "s3:///p", "file:///x", "/tmp/x", "s3://b/../x"] {
            assert_eq!(
                parse_s3_url(bad).unwrap_err().kind(),
                io::ErrorKind::InvalidInput,
                "{bad}"
            );
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn files_are_never_replaced_and_payloads_are_linked_in() {
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
        let payload: Vec<u8> = (0..300_000).map(|i| (i % 251) as u8).collect();
        for expected in ["in/processed/p.dat", "in/processed/p.2.dat"] {
            let mut temp = storage.temp_file().unwrap();
            temp.write(&payload).unwrap();
            assert_eq!(
                storage.persist("in/processed/p.dat", temp).await.unwrap(),
                expected
            );
            assert_eq!(storage.get(expected).await.unwrap(), payload);
        }
        let source = dir.path().join("source.dat");
        std::fs::write(&source, b"copied").unwrap();
        assert_eq!(
            storage
                .put_file("in/processed/p.dat", &source)
                .await
                .unwrap(),
            "in/processed/p.3.dat"
        );
        assert!(source.exists());
        let (mut reader, len) = storage.open("in/processed/p.3.dat").await.unwrap();
        let mut read = Vec::new();
        reader.read_to_end(&mut read).unwrap();
        assert_eq!((read.as_slice(), len), (&b"copied"[..], 6));
        assert_eq!(storage.get(path).await.unwrap(), b"one");
        storage.delete("in/processed/p.3.dat").await.unwrap();
        storage.delete("in/processed/p.3.dat").await.unwrap();
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
