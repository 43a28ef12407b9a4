// Starts the UI's wasm. A file of its own, not an inline script: the server's
// Content-Security-Policy allows scripts from this origin only (trunk injects none,
// see Trunk.toml).
import init from "/rapport-ui.js";

await init({ module_or_path: "/rapport-ui_bg.wasm" });
