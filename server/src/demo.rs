//! The demo programme.

/// Seeds a demo programme on an empty store (not built yet: seeds nothing).
pub async fn seed_if_empty(_state: &crate::AppState) -> crate::ApiResult<Option<String>> {
    Ok(None)
}
