//! Lead accounts: creating one and setting its password (the CLI's `create-lead` and
//! `set-password`, and the demo). Signing in, which only the API does, stays with its route.

use crate::auth::{check_new_password, hash_password, random_bytes};
use crate::db::LeadRow;
use crate::error::{HttpError, HttpResult};
use crate::state::AppState;

/// Creates a lead account (the CLI's `create-lead`, and the demo).
pub async fn create_lead(
    state: &AppState,
    email: &str,
    name: &str,
    password: &str,
) -> HttpResult<LeadRow> {
    let email = email.trim().to_lowercase();
    if !email.contains('@') || email.len() > 254 {
        return Err(HttpError::invalid(
            "bad_email",
            format!("{email:?} is not an e-mail address"),
        ));
    }
    check_new_password(password)?;
    let password = password.to_owned();
    let password_hash = tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| HttpError::internal("password hashing", e))??;
    let name = if name.trim().is_empty() {
        email.clone()
    } else {
        name.trim().to_owned()
    };
    let actor = hex::encode(random_bytes::<16>());
    let lead = LeadRow {
        id: uuid::Uuid::new_v4().to_string(),
        email,
        name,
        password_hash,
        actor,
    };
    state.db.insert_lead(&lead, crate::clock::now_ms()).await?;
    Ok(lead)
}

/// Sets a lead's password (the CLI's `set-password`): ends the lead's sessions and
/// clears failed sign-ins. `Err(not_found)` when there is no such lead.
pub async fn set_password(state: &AppState, email: &str, password: &str) -> HttpResult<()> {
    let email = email.trim().to_lowercase();
    check_new_password(password)?;
    let password = password.to_owned();
    let hash = tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| HttpError::internal("password hashing", e))??;
    if !state.db.set_password(&email, &hash).await? {
        return Err(HttpError::not_found(&format!("the lead {email}")));
    }
    state.db.clear_sign_in_failures(&email).await?;
    Ok(())
}
