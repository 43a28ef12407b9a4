//! The Rapport app on a desktop (Linux, Windows, macOS). Android and iOS start from
//! `rapport_app_lib::run` through Tauri's mobile entry point instead.

// No console window next to the app on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    rapport_app_lib::run();
}
