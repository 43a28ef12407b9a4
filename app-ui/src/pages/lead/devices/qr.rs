//! The pairing code as a QR code: a link to the rep's pairing page on this server, with
//! the server's address and the code in the fragment (never sent to a server or written
//! to its logs). A tablet's camera opens it; the pairing page fills itself in.

use leptos::prelude::*;
use qrcodegen::{QrCode, QrCodeEcc};

use crate::translations::i18n::*;

/// Quiet zone around the code, in modules (the QR standard asks for 4).
const BORDER: i32 = 4;

/// The link a tablet opens to pair: `<origin>/rep/pair#server=<origin>&code=<code>`,
/// both values URL-encoded.
pub(super) fn pairing_link(origin: &str, code: &str) -> String {
    let enc = |s: &str| String::from(js_sys::encode_uri_component(s));
    format!(
        "{origin}/rep/pair#server={}&code={}",
        enc(origin),
        enc(code)
    )
}

/// The dark modules of `text`'s QR code as one SVG path (a unit square per module,
/// shifted by the quiet zone), and the side of the whole picture in modules.
fn qr_path(text: &str) -> Option<(i32, String)> {
    let qr = QrCode::encode_text(text, QrCodeEcc::Medium).ok()?;
    let size = qr.size();
    let mut d = String::new();
    for y in 0..size {
        for x in 0..size {
            if qr.get_module(x, y) {
                d.push_str(&format!("M{},{}h1v1h-1z", x + BORDER, y + BORDER));
            }
        }
    }
    Some((size + 2 * BORDER, d))
}

/// The QR code of the pairing link for `code`, with the link written beside it.
#[component]
pub(super) fn PairingQr(code: String) -> impl IntoView {
    let i18n = use_i18n();
    let origin = web_sys::window()
        .and_then(|w| w.location().origin().ok())
        .unwrap_or_default();
    let link = pairing_link(&origin, &code);
    let picture = qr_path(&link).map(|(side, d)| {
        let view_box = format!("0 0 {side} {side}");
        view! {
            <svg class="pairing-qr" data-testid="pairing-qr" data-side=side.to_string()
                viewBox=view_box role="img" aria-label=move || t_string!(i18n, lead.devices.qr_label).to_string()
                shape-rendering="crispEdges" xmlns="http://www.w3.org/2000/svg">
                <rect width="100%" height="100%" fill="#ffffff" />
                <path d=d fill="#000000" />
            </svg>
        }
    });
    view! {
        <div class="pairing-qr-box">
            {picture}
            <p class="muted">{t!(i18n, lead.devices.qr_hint)}</p>
            <p class="pairing-link"><code data-testid="pairing-link">{link}</code></p>
        </div>
    }
}
