//! Values sealed at rest: AES-GCM-256 under the store's non-extractable WebCrypto key, a
//! fresh random 96-bit IV per value, the object store's name and the record's key as
//! additional data (a value moved to another record does not open).
//!
//! A sealed value is `[1][IV, 12 bytes][ciphertext and 16-byte tag]`, stored as a
//! `Uint8Array`.

use js_sys::{Array, Promise, Reflect, Uint8Array};
use rapport_store::StoreError;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{AesGcmParams, AesKeyGenParams, Crypto, CryptoKey, SubtleCrypto};

use crate::idb::{describe, global};

/// The format byte of sealed values.
const FORMAT: u8 = 1;
/// The IV's length in bytes (96 bits).
const IV_LEN: usize = 12;
/// AES-GCM's tag length in bytes.
const TAG_LEN: usize = 16;

/// A value to seal: the record it goes to (store and key as text) and its plaintext.
pub(crate) struct Plain {
    /// The object store.
    pub(crate) store: &'static str,
    /// The record's key as text (for a compound key, its parts joined by '/').
    pub(crate) key: String,
    /// What to seal.
    pub(crate) bytes: Vec<u8>,
}

/// The sealing key and the browser's WebCrypto.
#[derive(Clone, Debug)]
pub(crate) struct Sealer {
    key: CryptoKey,
    crypto: Crypto,
}

fn crypto_error(what: &str, e: &JsValue) -> StoreError {
    StoreError::Database {
        reason: format!("WebCrypto failed while {what}: {}", describe(e)),
    }
}

/// What binds a value to its record: the store's name and the record's key.
fn additional_data(store: &str, key: &str) -> Uint8Array {
    let mut aad = Vec::with_capacity(store.len() + key.len() + 1);
    aad.extend_from_slice(store.as_bytes());
    aad.push(0);
    aad.extend_from_slice(key.as_bytes());
    Uint8Array::from(aad.as_slice())
}

impl Sealer {
    /// A sealer with `key` (from the store's `keys` object store).
    pub(crate) fn new(key: CryptoKey) -> Result<Self, StoreError> {
        Ok(Self {
            key,
            crypto: global("crypto")?,
        })
    }

    /// A fresh AES-GCM-256 key that no script can export (`extractable: false`).
    pub(crate) async fn generate() -> Result<CryptoKey, StoreError> {
        let crypto: Crypto = global("crypto")?;
        let params = AesKeyGenParams::new("AES-GCM", 256);
        let usages = Array::of2(&"encrypt".into(), &"decrypt".into());
        let promise = crypto
            .subtle()
            .generate_key_with_object(&params, false, &usages)
            .map_err(|e| crypto_error("making the store's key", &e))?;
        JsFuture::from(promise)
            .await
            .map_err(|e| crypto_error("making the store's key", &e))?
            .dyn_into::<CryptoKey>()
            .map_err(|_| StoreError::Database {
                reason: "WebCrypto made no key".into(),
            })
    }

    fn subtle(&self) -> SubtleCrypto {
        self.crypto.subtle()
    }

    /// Seals every value, in order. Call it before opening the transaction that writes
    /// them: it awaits WebCrypto.
    pub(crate) async fn seal(&self, values: &[Plain]) -> Result<Vec<Uint8Array>, StoreError> {
        if values.is_empty() {
            return Ok(Vec::new());
        }
        let what = "sealing values to store";
        let mut ivs = Vec::with_capacity(values.len());
        let promises = Array::new();
        for value in values {
            let mut iv = [0u8; IV_LEN];
            self.crypto
                .get_random_values_with_u8_array(&mut iv)
                .map_err(|e| crypto_error(what, &e))?;
            let params = AesGcmParams::new_with_u8_array("AES-GCM", &Uint8Array::from(&iv[..]));
            params.set_additional_data_u8_array(&additional_data(value.store, &value.key));
            let promise = self
                .subtle()
                .encrypt_with_object_and_js_u8_array(
                    &params,
                    &self.key,
                    &Uint8Array::from(value.bytes.as_slice()),
                )
                .map_err(|e| crypto_error(what, &e))?;
            promises.push(&promise);
            ivs.push(iv);
        }
        let sealed = JsFuture::from(Promise::all(&promises))
            .await
            .map_err(|e| crypto_error(what, &e))?;
        let sealed: Array = sealed.unchecked_into();
        Ok(ivs
            .iter()
            .enumerate()
            .map(|(i, iv)| {
                let ciphertext = Uint8Array::new(&sealed.get(i as u32));
                let out = Uint8Array::new_with_length((1 + IV_LEN) as u32 + ciphertext.length());
                out.set_index(0, FORMAT);
                out.subarray(1, 1 + IV_LEN as u32).copy_from(iv);
                out.set(&ciphertext, (1 + IV_LEN) as u32);
                out
            })
            .collect())
    }

    /// Opens every sealed value (store, key as text, the stored value), in order: each
    /// its plaintext, or why it does not open. Call it after the reading transaction.
    pub(crate) async fn open(
        &self,
        values: &[(&str, String, JsValue)],
    ) -> Result<Vec<Result<Vec<u8>, String>>, StoreError> {
        let what = "opening stored values";
        let promises = Array::new();
        let mut slots: Vec<Option<String>> = Vec::with_capacity(values.len());
        for (store, key, value) in values {
            let Some(bytes) = value.dyn_ref::<Uint8Array>() else {
                slots.push(Some("the stored value is not sealed bytes".into()));
                promises.push(&JsValue::UNDEFINED);
                continue;
            };
            let len = bytes.length() as usize;
            if len < 1 + IV_LEN + TAG_LEN || bytes.get_index(0) != FORMAT {
                slots.push(Some(format!(
                    "the stored value ({len} bytes) is not in the sealed format"
                )));
                promises.push(&JsValue::UNDEFINED);
                continue;
            }
            let iv = bytes.subarray(1, 1 + IV_LEN as u32);
            let params = AesGcmParams::new_with_u8_array("AES-GCM", &iv);
            params.set_additional_data_u8_array(&additional_data(store, key));
            let promise = self
                .subtle()
                .decrypt_with_object_and_js_u8_array(
                    &params,
                    &self.key,
                    &bytes.subarray(1 + IV_LEN as u32, len as u32),
                )
                .map_err(|e| crypto_error(what, &e))?;
            promises.push(&promise);
            slots.push(None);
        }
        let settled = JsFuture::from(Promise::all_settled(&promises))
            .await
            .map_err(|e| crypto_error(what, &e))?;
        let settled: Array = settled.unchecked_into();
        Ok(slots
            .into_iter()
            .enumerate()
            .map(|(i, early)| {
                if let Some(reason) = early {
                    return Err(reason);
                }
                let entry = settled.get(i as u32);
                let status = Reflect::get(&entry, &"status".into()).ok();
                if status.and_then(|s| s.as_string()).as_deref() == Some("fulfilled") {
                    let value = Reflect::get(&entry, &"value".into()).unwrap_or_default();
                    Ok(Uint8Array::new(&value).to_vec())
                } else {
                    Err("it does not decrypt with this browser's key for the store (changed on disk, moved from another record, or written under another key)".into())
                }
            })
            .collect())
    }
}
