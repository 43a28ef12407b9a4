// Starts the UI's wasm. A file of its own, not an inline script: the server's
// Content-Security-Policy allows scripts from this origin only (trunk injects none,
// see Trunk.toml).
//
// Two bundles (app-ui/src/lib.rs): the lead's pages (/lead…) start rapport-lead, every
// other path rapport-ui, the rep's, which the service worker keeps for offline use.
// The same rule as `lead_path` in app-ui/src/app.rs: keep the two alike.
const path = location.pathname;
const bundle = path === "/lead" || path.startsWith("/lead/") ? "rapport-lead" : "rapport-ui";

try {
  const { default: init } = await import(`/${bundle}.js`);
  await init({ module_or_path: `/${bundle}_bg.wasm` });
} catch (error) {
  // Only the lead's pages can miss their files (they load from the server, never from
  // the offline cache): say so, in Russian first, instead of a blank page.
  const note = document.createElement("p");
  note.className = "card";
  note.setAttribute("role", "alert");
  note.textContent =
    "Страница не загрузилась: нет связи с сервером Rapport. Проверьте сеть и обновите страницу. " +
    "(The page did not load: the Rapport server cannot be reached. Check the network and reload.)";
  document.body.append(note);
  throw error;
}
