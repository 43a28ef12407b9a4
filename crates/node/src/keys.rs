//! The key of the device database: made once, kept in the operating system's keychain
//! where there is one, else in a file only the user can read.
//!
//! Why a random raw key and no passphrase: reps open the app many times a day on a
//! tablet; a passphrase would be typed, forgotten or written on the tablet. The
//! keychain ties the key to the user's login, which is what protects it on a lost
//! device. Where no keychain answers (a headless Linux box, CI), the key file next to
//! the database protects only against other users of the machine, and we say so.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::NodeError;

/// Service name of the keychain entries.
const SERVICE: &str = "rapport-device";
/// File name of the key outside a keychain.
pub const KEY_FILE: &str = "device.key";

/// Where the key is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyStorage {
    /// The keychain if one answers, else a key file (with a warning).
    #[default]
    Auto,
    /// The operating system's keychain only; fail if there is none.
    Keychain,
    /// A key file in the data folder, readable only by the user.
    File,
}

impl std::str::FromStr for KeyStorage {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Self::Auto),
            "keychain" => Ok(Self::Keychain),
            "file" => Ok(Self::File),
            other => Err(format!(
                "unknown key storage {other:?}: use auto, keychain or file"
            )),
        }
    }
}

/// The database key and where it came from.
pub struct DbKey {
    /// The raw 256-bit key.
    pub bytes: [u8; 32],
    /// Where it is kept.
    pub kept_in: KeyStorage,
    /// A warning for the user (key in a file), if any.
    pub warning: Option<String>,
}

impl std::fmt::Debug for DbKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbKey")
            .field("bytes", &"<redacted>")
            .field("kept_in", &self.kept_in)
            .finish()
    }
}

/// The key of the database in `data_dir`; a new one only when no database exists yet.
///
/// `db_exists` guards the data: if the database exists but its key is nowhere, we
/// fail with [`NodeError::KeyMissing`] instead of making a new key (which could never
/// open it) — the file stays as it is.
pub fn load_or_create(
    data_dir: &Path,
    storage: KeyStorage,
    db_exists: bool,
) -> Result<DbKey, NodeError> {
    let file = data_dir.join(KEY_FILE);
    let account = account_for(data_dir);
    // A key file already present wins: it was chosen before (or the keychain failed).
    if file.exists() && storage != KeyStorage::Keychain {
        let bytes = read_key_file(&file)?;
        return Ok(DbKey {
            bytes,
            kept_in: KeyStorage::File,
            warning: Some(file_warning(&file, storage)),
        });
    }
    if storage != KeyStorage::File {
        match keychain_get(&account) {
            Ok(Some(bytes)) => {
                return Ok(DbKey {
                    bytes,
                    kept_in: KeyStorage::Keychain,
                    warning: None,
                });
            }
            Ok(None) if db_exists => {}
            Ok(None) => {
                let bytes = random_key()?;
                match keychain_set(&account, &bytes) {
                    Ok(()) => {
                        return Ok(DbKey {
                            bytes,
                            kept_in: KeyStorage::Keychain,
                            warning: None,
                        });
                    }
                    Err(reason) if storage == KeyStorage::Keychain => {
                        return Err(NodeError::Keychain { reason });
                    }
                    Err(reason) => {
                        tracing::warn!(%reason, "the keychain did not take the key");
                    }
                }
            }
            Err(reason) if storage == KeyStorage::Keychain => {
                return Err(NodeError::Keychain { reason });
            }
            Err(reason) => {
                tracing::debug!(%reason, "no keychain; the key goes to a file");
            }
        }
    }
    if db_exists {
        return Err(NodeError::KeyMissing {
            data_dir: data_dir.display().to_string(),
        });
    }
    let bytes = random_key()?;
    write_key_file(&file, &bytes)?;
    let warning = file_warning(&file, storage);
    // Shown by the app and the CLI through `Node::key_warning`; logged for the record.
    tracing::info!("{warning}");
    Ok(DbKey {
        bytes,
        kept_in: KeyStorage::File,
        warning: Some(warning),
    })
}

fn file_warning(file: &Path, storage: KeyStorage) -> String {
    let why = if storage == KeyStorage::File {
        "key storage `file` chosen"
    } else {
        "no keychain on this system"
    };
    format!(
        "{why}: the database key is kept in {} (readable only by this user); anyone who can log in as this user can read the data",
        file.display()
    )
}

/// One keychain entry per data folder, so two profiles on one machine keep two keys.
fn account_for(data_dir: &Path) -> String {
    let absolute = fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
    format!("db-key:{}", absolute.display())
}

fn random_key() -> Result<[u8; 32], NodeError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| NodeError::Io {
        what: "random key".into(),
        reason: e.to_string(),
    })?;
    Ok(bytes)
}

fn keychain_get(account: &str) -> Result<Option<[u8; 32]>, String> {
    let entry = keyring::Entry::new(SERVICE, account).map_err(|e| e.to_string())?;
    match entry.get_secret() {
        Ok(secret) => <[u8; 32]>::try_from(secret.as_slice())
            .map(Some)
            .map_err(|_| "the keychain holds a key of the wrong length".to_owned()),
        Err(keyring::Error::NoEntry) => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

fn keychain_set(account: &str, key: &[u8; 32]) -> Result<(), String> {
    let entry = keyring::Entry::new(SERVICE, account).map_err(|e| e.to_string())?;
    entry.set_secret(key).map_err(|e| e.to_string())
}

fn read_key_file(file: &Path) -> Result<[u8; 32], NodeError> {
    let bad = |reason: String| NodeError::KeyFile {
        path: file.display().to_string(),
        reason,
    };
    let text = fs::read_to_string(file).map_err(|e| bad(e.to_string()))?;
    let bytes = hex::decode(text.trim()).map_err(|_| bad("it is not a hex key".into()))?;
    let key = <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| bad(format!("it holds {} bytes, not 32", bytes.len())))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = fs::metadata(file)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(
                path = %file.display(),
                "the key file is readable by other users; run: chmod 600 {}",
                file.display()
            );
        }
    }
    Ok(key)
}

fn write_key_file(file: &PathBuf, key: &[u8; 32]) -> Result<(), NodeError> {
    let bad = |reason: String| NodeError::KeyFile {
        path: file.display().to_string(),
        reason,
    };
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(file).map_err(|e| bad(e.to_string()))?;
    f.write_all(hex::encode(key).as_bytes())
        .and_then(|()| f.write_all(b"\n"))
        .and_then(|()| f.sync_all())
        .map_err(|e| bad(e.to_string()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_key_is_made_once_private_and_read_back() {
        let dir = tempfile::tempdir().expect("temp dir");
        let first = load_or_create(dir.path(), KeyStorage::File, false).expect("new key");
        assert_eq!(first.kept_in, KeyStorage::File);
        assert!(first.warning.as_deref().is_some_and(
            |w| w.contains("`file` chosen") && w.contains("readable only by this user")
        ));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join(KEY_FILE))
                .expect("key file")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "key file mode {mode:o}");
        }
        let again = load_or_create(dir.path(), KeyStorage::File, true).expect("same key");
        assert_eq!(again.bytes, first.bytes);
    }

    #[test]
    fn an_existing_database_without_its_key_is_never_given_a_new_one() {
        let dir = tempfile::tempdir().expect("temp dir");
        let err = load_or_create(dir.path(), KeyStorage::File, true).expect_err("no key");
        assert_eq!(err.code(), "key_missing");
        assert!(!dir.path().join(KEY_FILE).exists(), "a key was made anyway");
    }

    #[test]
    fn a_damaged_key_file_is_reported_with_its_path() {
        let dir = tempfile::tempdir().expect("temp dir");
        fs::write(dir.path().join(KEY_FILE), "не ключ").expect("write");
        let err = load_or_create(dir.path(), KeyStorage::Auto, true).expect_err("bad key");
        assert_eq!(err.code(), "key_file_unreadable");
        assert!(err.to_string().contains(KEY_FILE), "{err}");
    }
}
