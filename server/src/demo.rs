//! The demo programme.
pub async fn seed_if_empty(_state: &crate::AppState) -> crate::ApiResult<Option<String>> {
    Ok(None)
}
