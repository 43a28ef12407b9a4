//! The device's one error type; every variant has a stable code and a message a person
//! can act on, and turns into the API's [`ApiError`]. The native node and the web app
//! report the same codes.

use rapport_api::ApiError;
use rapport_domain::{DocId, DomainError, MissingAnswer};
use rapport_store::StoreError;

/// Why a node call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// The device is not paired with a server yet.
    #[error("this device is not paired yet: ask the programme lead for a pairing code and pair")]
    NotPaired,
    /// The device is paired already.
    #[error(
        "this device is already paired with {server_url} (device {device_id}); use another data folder for another programme"
    )]
    AlreadyPaired {
        /// The server it is paired with.
        server_url: String,
        /// Its device id.
        device_id: String,
    },
    /// The database exists but its key is in neither the keychain nor the key file.
    #[error(
        "the device database in {data_dir} is encrypted and its key is in neither the keychain nor {data_dir}/device.key; nothing was changed: restore the key, or move the folder aside and pair again (edits already synced are on the server)"
    )]
    KeyMissing {
        /// The data folder.
        data_dir: String,
    },
    /// The key file cannot be read or written.
    #[error("the key file {path} cannot be used: {reason}")]
    KeyFile {
        /// Its path.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The keychain was required and did not work.
    #[error("the system keychain did not work ({reason}); unlock it, or choose key storage `file`")]
    Keychain {
        /// What the keychain said.
        reason: String,
    },
    /// A file-system operation failed.
    #[error("cannot use {what}: {reason}")]
    Io {
        /// What was being done.
        what: String,
        /// What the OS said.
        reason: String,
    },
    /// The local store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The input or the document broke a rule of the domain.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// A document asked for is not on this device.
    #[error("{what} {id} is not on this device; sync, or check that it is assigned to you")]
    NotFound {
        /// What it is, e.g. "visit".
        what: &'static str,
        /// Its id.
        id: DocId,
    },
    /// The programme's questionnaire has not arrived yet.
    #[error("the questionnaire of this programme has not arrived yet: sync with the server first")]
    NoTemplate,
    /// Completion refused: required answers are missing.
    #[error("{} required answer(s) missing; answer them, then complete the visit", missing.len())]
    Incomplete {
        /// The missing answers.
        missing: Vec<MissingAnswer>,
    },
    /// A request argument is wrong.
    #[error("{message}")]
    Invalid {
        /// A stable code.
        code: &'static str,
        /// What to fix.
        message: String,
    },
    /// The server cannot be reached.
    #[error(
        "the server at {url} cannot be reached ({reason}); edits are kept and sync again when the network is back"
    )]
    Offline {
        /// The server's address.
        url: String,
        /// What the network said.
        reason: String,
    },
    /// The server answered with an error.
    #[error("the server refused: {message}")]
    Server {
        /// HTTP status.
        status: u16,
        /// The server's error code.
        code: String,
        /// The server's message.
        message: String,
    },
    /// The lead revoked this device.
    #[error(
        "the programme lead revoked this device: it no longer syncs; everything on it is kept. Ask the lead for a new pairing code"
    )]
    Revoked,
    /// A sync run failed in the protocol.
    #[error("sync failed: {message}; data is kept, it syncs again later")]
    Sync {
        /// A stable code.
        code: &'static str,
        /// What happened.
        message: String,
    },
    /// The node was shut down.
    #[error("the device node is shutting down")]
    ShutDown,
}

impl NodeError {
    /// A stable code for programs; never changed once published.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotPaired => "not_paired",
            Self::AlreadyPaired { .. } => "already_paired",
            Self::KeyMissing { .. } => "key_missing",
            Self::KeyFile { .. } => "key_file_unreadable",
            Self::Keychain { .. } => "keychain_unavailable",
            Self::Io { .. } => "io_error",
            Self::Store(e) => e.code(),
            Self::Domain(e) => e.code(),
            Self::NotFound { .. } => "not_found",
            Self::NoTemplate => "no_template",
            Self::Incomplete { .. } => "visit_incomplete",
            Self::Invalid { code, .. } => code,
            Self::Offline { .. } => "offline",
            Self::Server { .. } => "server_error",
            Self::Revoked => "device_revoked",
            Self::Sync { code, .. } => code,
            Self::ShutDown => "shut_down",
        }
    }

    /// The code a client sees: the server's own stable code when the server refused
    /// (e.g. `invalid_pairing_code`), else [`Self::code`]. A bare `server_error` would
    /// leave a program unable to tell a wrong pairing code from a full disk.
    pub fn reported_code(&self) -> &str {
        match self {
            Self::Server { code, .. } => code,
            other => other.code(),
        }
    }

    /// Whether trying again later (network back, server up) may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Offline { .. } => true,
            Self::Server { status, .. } => *status >= 500 || *status == 429,
            Self::Store(e) => e.is_retryable(),
            Self::Sync { .. } => true,
            _ => false,
        }
    }

    /// A request argument is wrong: `code` is stable, `message` says what to fix.
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            code,
            message: message.into(),
        }
    }
}

impl From<NodeError> for ApiError {
    fn from(e: NodeError) -> Self {
        let mut api = ApiError::new(e.reported_code(), e.to_string());
        if let NodeError::Incomplete { missing } = e {
            api.missing = Some(missing);
        }
        api
    }
}

/// The server's JSON error as a [`NodeError`].
pub fn server_error(status: u16, body: &[u8]) -> NodeError {
    #[derive(serde::Deserialize)]
    struct Detail {
        code: String,
        message: String,
    }
    // The server answers `{"error": {"code", "message"}}`; a bare `{"code", "message"}`
    // (a proxy, an older server) is read too. Reading only the bare shape once turned
    // every refusal into `http_<status>` and a revoked device into a generic error.
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Body {
        Wrapped { error: Detail },
        Bare(Detail),
    }
    let parsed: Option<Detail> = serde_json::from_slice::<Body>(body).ok().map(|b| match b {
        Body::Wrapped { error } => error,
        Body::Bare(detail) => detail,
    });
    match parsed {
        Some(b) if b.code == "device_revoked" => NodeError::Revoked,
        Some(b) => NodeError::Server {
            status,
            code: b.code,
            message: b.message,
        },
        None => NodeError::Server {
            status,
            code: format!("http_{status}"),
            message: String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
        },
    }
}

/// Refuses a day that is not `YYYY-MM-DD`, saying how to write it.
pub(crate) fn check_date(date: &str) -> Result<(), NodeError> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(date, format).map(|_| ()).map_err(|_| {
        NodeError::invalid(
            "invalid_date",
            format!("{date:?} is not a date: write it as YYYY-MM-DD, e.g. 2026-11-27"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_servers_errors_become_clear_node_errors() {
        let revoked = server_error(
            401,
            r#"{"error":{"code":"device_revoked","message":"устройство отозвано"}}"#.as_bytes(),
        );
        assert_eq!(revoked.code(), "device_revoked");
        let bare = server_error(401, br#"{"code":"device_revoked","message":"revoked"}"#);
        assert_eq!(bare.code(), "device_revoked");
        let refused = server_error(
            401,
            r#"{"error":{"code":"invalid_pairing_code","message":"код не найден"}}"#.as_bytes(),
        );
        assert!(refused.to_string().contains("код не найден"), "{refused}");
        assert_eq!(
            ApiError::from(refused).code,
            "invalid_pairing_code",
            "a client sees the server's own code"
        );
        let other = server_error(413, b"<html>too big</html>");
        assert_eq!(other.code(), "server_error");
        assert!(other.to_string().contains("too big"), "{other}");
    }
}
