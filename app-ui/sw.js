// Rapport's service worker: the installable web app works with no network.
//
// - install: fetches every file of this build (PRECACHE) into a cache named by VERSION;
//   tools/build-ui.sh writes both lines below from the built files, so any changed file
//   changes this script and the browser sees a new version.
// - activate: deletes the caches of older versions.
// - fetch: the app's files come from this version's cache; every navigation inside the
//   scope gets this version's index.html (the UI routes itself, so any page opens
//   offline, and an old page never mixes with a newer build's files). /api/, /healthz
//   and /metrics always go to the network and are never stored: offline they fail, as
//   the page expects.
// - updates: a new version waits; the page announces it and posts "skip-waiting" when
//   the user presses the button. This worker never calls skipWaiting() on its own.

const VERSION = "dev";
const PRECACHE = [];

const PREFIX = "rapport-";
const CACHE = PREFIX + VERSION;

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(CACHE).then((cache) =>
      // `reload`: the files of this build, never an older copy from the HTTP cache.
      cache.addAll(PRECACHE.map((path) => new Request(path, { cache: "reload" }))),
    ),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) =>
        Promise.all(
          keys.filter((k) => k.startsWith(PREFIX) && k !== CACHE).map((k) => caches.delete(k)),
        ),
      )
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("message", (event) => {
  if (event.data === "skip-waiting") {
    self.skipWaiting();
  }
});

// The server's own answers, never the app: the API, health, metrics, CSP reports.
const NETWORK_ONLY = ["/healthz", "/metrics", "/csp-report"];

function networkOnly(url) {
  return url.pathname === "/api" || url.pathname.startsWith("/api/") || NETWORK_ONLY.includes(url.pathname);
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin || networkOnly(url)) return;
  event.respondWith(
    (async () => {
      const cache = await caches.open(CACHE);
      const key = request.mode === "navigate" ? "/index.html" : url.pathname;
      const hit = await cache.match(key);
      return hit || fetch(request);
    })(),
  );
});
