//! Who is calling: leads (password → session token) and devices (pairing code →
//! device token). Secrets are random, at least 128 bits, and stored only as SHA-256;
//! stored hashes are compared in constant time.

use std::sync::LazyLock;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::db::{DeviceRecord, LeadRow};
use crate::error::HttpError;
use crate::state::AppState;

/// Prefix of a lead's session token.
pub const SESSION_PREFIX: &str = "rps_";
/// Prefix of a device token.
pub const DEVICE_PREFIX: &str = "rpd_";

/// `n` random bytes from the operating system.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // Without the OS random source no secret can be made safely: stop rather than weaken.
    getrandom::fill(&mut bytes).unwrap_or_else(|e| panic!("no OS random source: {e}"));
    bytes
}

/// A fresh token: the prefix and 256 random bits, URL-safe.
pub fn new_token(prefix: &str) -> String {
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(random_bytes::<32>()))
}

/// SHA-256 of a secret, hex: what the database keeps.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// True when `stored` equals the hash of `secret`, compared in constant time.
pub fn secret_matches(stored: &str, secret: &str) -> bool {
    stored
        .as_bytes()
        .ct_eq(hash_secret(secret).as_bytes())
        .into()
}

/// Argon2id hash (PHC string) of a password. Slow on purpose: call it off the async
/// threads ([`tokio::task::spawn_blocking`]).
pub fn hash_password(password: &str) -> Result<String, HttpError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| HttpError::internal("password hashing", e))
}

/// A hash of no real password, verified against when the e-mail is unknown, so an
/// unknown user takes as long as a wrong password.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    hash_password("no such user: this hash only equalises timing").unwrap_or_default()
});

/// Checks a password against a stored PHC string (or the dummy when `stored` is None).
pub fn verify_password(stored: Option<&str>, password: &str) -> bool {
    let phc = stored.unwrap_or(DUMMY_HASH.as_str());
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let ok = Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    ok && stored.is_some()
}

/// The rules a new password must meet; the message says what to change.
pub fn check_new_password(password: &str) -> Result<(), HttpError> {
    let chars = password.chars().count();
    if chars < 10 {
        return Err(HttpError::invalid(
            "weak_password",
            format!("the password has {chars} characters; use at least 10"),
        ));
    }
    if chars > 1024 {
        return Err(HttpError::invalid(
            "weak_password",
            "the password is longer than 1024 characters",
        ));
    }
    Ok(())
}

/// A pairing code a person can type: 12 characters of Crockford base32 (60 bits),
/// shown as `XXXX-XXXX-XXXX`. Single use and short-lived, so 60 bits is far beyond
/// what guessing over the network can reach before it expires.
pub fn new_pairing_code() -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let bytes = random_bytes::<12>();
    let chars: String = bytes
        .iter()
        .map(|b| ALPHABET[usize::from(b % 32)] as char)
        .collect();
    format!("{}-{}-{}", &chars[0..4], &chars[4..8], &chars[8..12])
}

/// A typed code made canonical: case, spaces, dashes and look-alike letters
/// (O→0, I/L→1) do not matter.
pub fn normalise_pairing_code(code: &str) -> String {
    let clean: String = code
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            other => other,
        })
        .collect();
    if clean.len() == 12 {
        format!("{}-{}-{}", &clean[0..4], &clean[4..8], &clean[8..12])
    } else {
        clean
    }
}

fn bearer(parts: &Parts) -> Result<&str, HttpError> {
    let header = parts.headers.get(AUTHORIZATION).ok_or_else(|| {
        HttpError::unauthorized(
            "missing_token",
            "sign in (lead) or pair the device, then send `Authorization: Bearer <token>`",
        )
    })?;
    let value = header
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            HttpError::unauthorized(
                "malformed_token",
                "the Authorization header must be `Bearer <token>`",
            )
        })?;
    if value.len() > 200 {
        return Err(HttpError::unauthorized(
            "malformed_token",
            "the token is too long",
        ));
    }
    Ok(value)
}

/// A signed-in lead (from `Authorization: Bearer rps_…`).
#[derive(Clone, Debug)]
pub struct LeadAuth {
    /// The lead.
    pub lead: LeadRow,
    /// The session's token hash (to sign out).
    pub token_hash: String,
}

impl LeadAuth {
    /// A fresh actor for one edit: the lead's 16 registered bytes and 8 random ones,
    /// so two edits at once (two server processes) never share an actor and sequence
    /// number, while history still names the lead (see the domain's `who_wrote`).
    pub fn edit_actor(&self) -> automerge::ActorId {
        edit_actor(&self.lead.actor)
    }
}

/// A per-edit actor under a registered 16-byte prefix (hex).
pub fn edit_actor(prefix_hex: &str) -> automerge::ActorId {
    let mut bytes = hex::decode(prefix_hex).unwrap_or_default();
    bytes.extend_from_slice(&random_bytes::<8>());
    automerge::ActorId::from(bytes)
}

/// The registered actor itself (hex as stored), as recorded in the device register.
pub fn registered_actor(hex_actor: &str) -> automerge::ActorId {
    automerge::ActorId::from(hex::decode(hex_actor).unwrap_or_default())
}

impl FromRequestParts<AppState> for LeadAuth {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, HttpError> {
        let token = bearer(parts)?;
        if token.starts_with(DEVICE_PREFIX) {
            return Err(HttpError::forbidden(
                "a device token cannot be used on the lead's pages; sign in as the lead",
            ));
        }
        if !token.starts_with(SESSION_PREFIX) {
            return Err(HttpError::unauthorized(
                "malformed_token",
                "this is not a Rapport session token; sign in again",
            ));
        }
        let hash = hash_secret(token);
        match state.db.session(&hash, crate::clock::now_ms()).await? {
            Some((lead, stored)) if secret_matches(&stored, token) => Ok(Self {
                lead,
                token_hash: stored,
            }),
            _ => Err(HttpError::unauthorized(
                "session_expired",
                "the session has ended or the token is unknown; sign in again",
            )),
        }
    }
}

/// A paired, not revoked device (from `Authorization: Bearer rpd_…`).
#[derive(Clone, Debug)]
pub struct DeviceAuth {
    /// The device.
    pub device: DeviceRecord,
}

impl FromRequestParts<AppState> for DeviceAuth {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, HttpError> {
        let token = bearer(parts)?;
        if token.starts_with(SESSION_PREFIX) {
            return Err(HttpError::forbidden(
                "a lead's session cannot sync; pair a device with a pairing code",
            ));
        }
        if !token.starts_with(DEVICE_PREFIX) {
            return Err(HttpError::unauthorized(
                "malformed_token",
                "this is not a Rapport device token; pair the device again",
            ));
        }
        let hash = hash_secret(token);
        match state.db.device_by_token(&hash).await? {
            Some(device) if secret_matches(&device.token_hash, token) => {
                if device.revoked_ms.is_some() {
                    return Err(HttpError::unauthorized(
                        "device_revoked",
                        "this device was revoked by the programme lead; its data stays on the device — ask the lead for a new pairing code",
                    ));
                }
                Ok(Self { device })
            }
            _ => Err(HttpError::unauthorized(
                "unknown_device",
                "the device token is unknown; pair the device again",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_and_unknown_users_fail_the_same_way() {
        let hash = hash_password("пароль-руководителя").expect("hash");
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify_password(Some(&hash), "пароль-руководителя"));
        assert!(!verify_password(Some(&hash), "пароль-другой"));
        assert!(!verify_password(None, "пароль-руководителя"));
    }

    #[test]
    fn tokens_are_long_random_and_checked_by_hash() {
        let a = new_token(DEVICE_PREFIX);
        let b = new_token(DEVICE_PREFIX);
        assert_ne!(a, b);
        assert!(
            a.len() >= DEVICE_PREFIX.len() + 43,
            "256 bits in base64: {a}"
        );
        let stored = hash_secret(&a);
        assert!(secret_matches(&stored, &a));
        assert!(!secret_matches(&stored, &b));
    }

    #[test]
    fn pairing_codes_forgive_case_dashes_and_look_alikes() {
        let code = new_pairing_code();
        assert_eq!(code.len(), 14);
        assert_eq!(
            normalise_pairing_code(&code.to_lowercase().replace('-', " ")),
            code
        );
        assert_eq!(normalise_pairing_code("abco-1il0-zzzz"), "ABC0-1110-ZZZZ");
    }

    #[test]
    fn edit_actors_share_the_lead_prefix_and_differ() {
        let prefix = "ab".repeat(16);
        let a = edit_actor(&prefix).to_hex_string();
        let b = edit_actor(&prefix).to_hex_string();
        assert!(a.starts_with(&prefix) && b.starts_with(&prefix));
        assert_ne!(a, b);
    }

    #[test]
    fn short_passwords_are_refused_with_what_to_do() {
        let err = check_new_password("короткий").expect_err("8 chars");
        assert!(err.message.contains("at least 10"), "{}", err.message);
        assert!(check_new_password("достаточно-длинный").is_ok());
    }
}
