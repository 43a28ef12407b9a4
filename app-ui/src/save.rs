//! Saving a file the page has in memory (an export, a calendar entry) where the person
//! finds it: in the app, the app writes it into the downloads folder and says where; in
//! a browser, the browser's own download does it.

use rapport_api::ApiError;
use serde::Serialize;
use wasm_bindgen::{JsCast, JsValue};

use crate::transport;

#[derive(Serialize)]
struct SaveArgs<'a> {
    name: &'a str,
    bytes: &'a [u8],
}

/// Saves `bytes` as a file named `name` (of media type `content_type`): in the app,
/// into the downloads folder, never over another file ("visits (2).csv"), and returns
/// `Some` of its full path; in a browser, as a download, and returns `None` (the
/// browser shows where it went).
pub(crate) async fn save_file(
    name: &str,
    content_type: &str,
    bytes: &[u8],
) -> Result<Option<String>, ApiError> {
    if transport::in_app() {
        let path = transport::invoke::<String>(
            "save_file",
            &SaveArgs { name, bytes },
            "the app could not save the file",
        )
        .await?;
        Ok(Some(path))
    } else {
        download(name, content_type, bytes)?;
        Ok(None)
    }
}

/// Hands `bytes` to the browser as a download named `name`: a Blob behind an object URL
/// and a temporary `<a download>` (the token is a header, so a plain link cannot work).
fn download(name: &str, content_type: &str, bytes: &[u8]) -> Result<(), ApiError> {
    let failed =
        |e: JsValue| ApiError::new("ui_download", format!("the file could not be saved: {e:?}"));
    let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(bytes));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(content_type);
    let blob =
        web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &options).map_err(failed)?;
    let url = web_sys::Url::create_object_url_with_blob(&blob).map_err(failed)?;
    let link: web_sys::HtmlAnchorElement = leptos::prelude::document()
        .create_element("a")
        .map_err(failed)?
        .dyn_into()
        .map_err(|_| ApiError::new("ui_download", "the file could not be saved"))?;
    link.set_href(&url);
    link.set_download(name);
    // `click()` lives on HtmlElement; calling it through JS keeps web-sys features as they are.
    let click = js_sys::Reflect::get(&link, &JsValue::from_str("click")).map_err(failed)?;
    if let Some(click) = click.dyn_ref::<js_sys::Function>() {
        click.call0(&link).map_err(failed)?;
    }
    // Some browsers read the URL after `click()` returns: free it a little later.
    leptos::prelude::set_timeout(
        move || {
            let _ = web_sys::Url::revoke_object_url(&url);
        },
        std::time::Duration::from_secs(30),
    );
    Ok(())
}
