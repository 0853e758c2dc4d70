//! The partner configuration file and the data directory.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use crate::*;
use as2_proto::partner::{MemoryDirectory, PartnerConfig, is_safe_relative_path};

/// Loads a partner configuration; key and certificate paths in it are relative to the
/// file.
pub fn load_directory(path: &Path) -> Result<MemoryDirectory, BoxError> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let config = if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
    {
        PartnerConfig::from_json(&text)
    } else {
        PartnerConfig::from_toml(&text)
    }
    .map_err(|e| format!("{}: {e}", path.display()))?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let directory = config
        .load(&mut |p| std::fs::read(dir.join(p)))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(directory)
}

/// The data directory. Files are written under a temporary name and then linked into
/// place, so a reader never sees half a file and nothing is ever replaced.
#[derive(Debug)]
pub struct DataDir {
    pub(crate) root: PathBuf,
}

pub(crate) static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl DataDir {
    /// The data directory at `root` (created when first written to).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DataDir { root: root.into() }
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Writes a new file at `relative` (a `/`-separated path that must stay inside the
    /// directory); if the name is taken, at the first free `name.N.ext`. Returns the
    /// relative path written.
    pub fn put_new(&self, relative: &str, bytes: &[u8]) -> io::Result<String> {
        safe(relative)?;
        let mut temp = match relative.rsplit_once('/') {
            Some((dir, _)) => self.temp_file(dir)?,
            None => self.temp_in(self.root.clone())?,
        };
        temp.write(bytes)?;
        self.persist(relative, temp)
    }

    /// A new temporary file in the directory `relative_dir` (created if need be), for a
    /// file whose content arrives over time. Dropping it removes it; [`DataDir::persist`]
    /// puts it in place.
    pub fn temp_file(&self, relative_dir: &str) -> io::Result<TempFile> {
        safe(relative_dir)?;
        self.temp_in(self.root.join(relative_dir))
    }

    pub(crate) fn temp_in(&self, dir: PathBuf) -> io::Result<TempFile> {
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!(
            ".part-{}-{}",
            std::process::id(),
            TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        Ok(TempFile {
            path,
            file: io::BufWriter::with_capacity(CHUNK, file),
            len: 0,
        })
    }

    /// Links the complete `temp` in at `relative` (a `/`-separated path inside the
    /// directory, on the same file system as `temp`), or at the first free `name.N.ext`,
    /// and removes its temporary name. Returns the relative path written.
    pub fn persist(&self, relative: &str, mut temp: TempFile) -> io::Result<String> {
        safe(relative)?;
        temp.file.flush()?;
        let target = self.root.join(relative);
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir)?;
        }
        (1..=1000)
            .map(|n| numbered(relative, n))
            .find_map(|candidate| {
                match std::fs::hard_link(&temp.path, self.root.join(&candidate)) {
                    Ok(()) => Some(Ok(candidate)),
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => None,
                    Err(e) => Some(Err(e)),
                }
            })
            .unwrap_or_else(|| {
                Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{relative}: no free name"),
                ))
            })
        // Dropping `temp` removes the temporary name.
    }
}

/// `relative` if it is a safe relative path, else an `InvalidInput` error.
pub(crate) fn safe(relative: &str) -> io::Result<()> {
    if is_safe_relative_path(relative) {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("unsafe path {relative:?}"),
        ))
    }
}

/// A file of the data directory being written under a temporary name (`.part-...`),
/// removed when dropped unless [`DataDir::persist`] has linked it into place: a reader
/// never sees half a file.
#[derive(Debug)]
pub struct TempFile {
    path: PathBuf,
    file: io::BufWriter<std::fs::File>,
    len: u64,
}

impl TempFile {
    /// A new temporary file in `dir` (created if need be).
    pub fn create_in(dir: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(format!(
            ".part-{}-{}",
            std::process::id(),
            TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        Ok(TempFile {
            path,
            file: io::BufWriter::with_capacity(CHUNK, file),
            len: 0,
        })
    }

    /// Flushes what was written to the file.
    pub fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }

    /// The temporary name.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes what was written and opens the file for reading from its start.
    pub fn reopen(&mut self) -> io::Result<std::fs::File> {
        self.file.flush()?;
        std::fs::File::open(&self.path)
    }

    /// Appends `bytes`.
    pub fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.file.write_all(bytes)?;
        self.len = self.len.saturating_add(len_u64(bytes.len()));
        Ok(())
    }

    /// The bytes written so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing has been written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

pub(crate) fn len_u64(len: usize) -> u64 {
    u64::try_from(len).unwrap_or(u64::MAX)
}

/// `dir/name.ext` for n = 1, else `dir/name.n.ext` (`.json` and `.mdn` count as the
/// extension: `x.id.dat.json` becomes `x.id.dat.2.json`).
pub(crate) fn numbered(relative: &str, n: u32) -> String {
    if n == 1 {
        return relative.to_owned();
    }
    let (dir, file) = relative.rsplit_once('/').unwrap_or(("", relative));
    let file = match file.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => format!("{stem}.{n}.{ext}"),
        _ => format!("{file}.{n}"),
    };
    if dir.is_empty() {
        file
    } else {
        format!("{dir}/{file}")
    }
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
