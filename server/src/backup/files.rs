//! Files of a backup and a restore: a temporary file beside its final name that is
//! moved into place whole or removed, and blocking file work kept off the async
//! threads.

use std::path::{Path, PathBuf};

use super::error::{BackupError, io};

/// Runs blocking file or process work off the async threads.
pub(super) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(f).await {
        Ok(v) => v,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// The folder `path` is in (`.` for a bare file name).
pub(super) fn parent_folder(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// `path` + `suffix` (SQLite's `-wal`, `-shm`, `-journal` files).
pub(super) fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// A temporary file beside its final name, removed on drop unless moved into place.
pub(super) struct TempPath(Option<PathBuf>);

impl TempPath {
    pub(super) fn beside(target: &Path, what: &str) -> Self {
        let name = target
            .file_name()
            .map_or_else(|| "backup".into(), |n| n.to_string_lossy().into_owned());
        let suffix = hex::encode(crate::auth::random_bytes::<6>());
        Self(Some(
            parent_folder(target).join(format!(".{name}.{what}-{suffix}")),
        ))
    }

    pub(super) fn path(&self) -> &Path {
        self.0.as_deref().unwrap_or(Path::new(""))
    }

    /// Flushes the file to disk and moves it to `target`, which must not exist; its size.
    pub(super) fn persist(self, target: &Path) -> Result<u64, BackupError> {
        if target.symlink_metadata().is_ok() {
            return Err(BackupError::OutputExists {
                path: target.display().to_string(),
            });
        }
        self.replace(target)
    }

    /// Flushes the file to disk and moves it to `target`, replacing it; its size.
    pub(super) fn replace(mut self, target: &Path) -> Result<u64, BackupError> {
        let tmp = self.0.take().unwrap_or_default();
        let moved = (|| {
            let file = std::fs::File::open(&tmp).map_err(io("cannot open", &tmp))?;
            file.sync_all().map_err(io("cannot flush to disk", &tmp))?;
            let bytes = file.metadata().map_err(io("cannot read", &tmp))?.len();
            std::fs::rename(&tmp, target)
                .map_err(io("cannot move the file into place at", target))?;
            // The rename itself is durable once the folder is flushed (not on every OS).
            if let Ok(dir) = std::fs::File::open(parent_folder(target)) {
                let _ = dir.sync_all();
            }
            Ok(bytes)
        })();
        if moved.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        moved
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            for p in [
                sidecar(&path, "-wal"),
                sidecar(&path, "-shm"),
                sidecar(&path, "-journal"),
                path,
            ] {
                let _ = std::fs::remove_file(p);
            }
        }
    }
}
