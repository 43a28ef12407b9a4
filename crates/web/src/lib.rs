//! The device's browser shell: the rep's app as an offline web app, with the device core
//! in the page. This crate holds its store, [`IdbDeviceStore`]: the core's
//! `DeviceStore` on IndexedDB. It is browser code only: on other targets the crate is
//! empty.
//!
//! # Durability
//! Every write is one IndexedDB transaction opened with `durability: "strict"` (the
//! browser flushes it to disk before reporting it done; Chromium's default is relaxed),
//! and returns `Ok` only after the transaction's `complete` event. A transaction that
//! aborts leaves nothing of it. An edit writes its dirty mark and its changes in the same
//! transaction.
//!
//! # Encryption at rest: what it protects, and what not
//! Every value holding user data (document changes and snapshots, sync states, the
//! pairing with its device token, the sync bookkeeping, dirty-mark times, refusals, index
//! entries) is encrypted with AES-GCM-256, a fresh random 96-bit IV per value, bound to
//! its record (the object store's name and the record's key are the additional data, so
//! values cannot be swapped between records). Record keys are plain: document ids, change
//! hashes, peer and bookkeeping record names. Someone reading the files sees how many
//! documents and changes there are and which documents are dirty, refused or indexed,
//! not what they hold.
//!
//! The key is made by WebCrypto as **non-extractable** and kept in the same IndexedDB
//! database (a `CryptoKey` is stored as the browser's own structured clone, not as bytes
//! a script can read).
//!
//! - It protects against someone or something reading the stored files outside the
//!   browser (another program, a disk image, a backup of the profile folder) only as far
//!   as the browser keeps the key's material from them: the key is written into the same
//!   profile folder, in the browser's own serialisation, so anyone with the files and the
//!   knowledge of that format (or a copy of the whole profile opened in the same browser)
//!   can decrypt. It raises the bar from "read the values with any IndexedDB/LevelDB
//!   dump tool" to "extract the key from the browser's own storage"; it is not the
//!   protection of a key held in an OS keychain or derived from a password.
//! - It does **not** protect against script running in the site's origin (it can use the
//!   key to decrypt, though not export it), against browser extensions with access to
//!   the site, or against anyone using the unlocked browser or device. Full-disk
//!   encryption and a device lock remain the protection for a lost tablet.
//! - A value changed on disk, or moved to another record, does not decrypt: it is
//!   reported as a clear error (a document's in its own slot), never read as other data.
//!   Deleting the key while data remains makes the store refuse to open, saying so.

#[cfg(target_arch = "wasm32")]
mod conn;
#[cfg(target_arch = "wasm32")]
mod docs;
#[cfg(target_arch = "wasm32")]
mod idb;
#[cfg(target_arch = "wasm32")]
mod local;
#[cfg(target_arch = "wasm32")]
mod seal;
#[cfg(target_arch = "wasm32")]
mod store;

#[cfg(target_arch = "wasm32")]
pub use store::IdbDeviceStore;
