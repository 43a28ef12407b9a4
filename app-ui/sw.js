// Rapport's service worker: the installable web app works with no network.
//
// - install: fetches every file of this build (PRECACHE) into a cache named by VERSION;
//   tools/build-ui.sh writes both lines below from the built files, so any changed file
//   changes this script and the browser sees a new version. The lead's bundle
//   (rapport-lead.*) is not among them: a tablet never downloads it.
// - activate: deletes the caches of older versions.
// - fetch: the app's files come from this version's cache; every navigation inside the
//   scope gets this version's index.html (the UI routes itself, so any page opens
//   offline, and an old page never mixes with a newer build's files). /api/, /healthz
//   and /metrics always go to the network and are never stored: offline they fail, as
//   the page expects.
// - the lead's pages (/lead…) need the server anyway: they and every file they load
//   come from the network, so they are always the server's current build; this cache
//   answers only when the network fails (start.js then says the server is unreachable).
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

// The same rule as start.js's and `lead_path` in app-ui/src/app.rs.
function leadPath(pathname) {
  return pathname === "/lead" || pathname.startsWith("/lead/");
}

// Whether a request is the lead's: a navigation to a lead's page, or a file a lead's page
// loads.
async function forLead(event, url) {
  if (event.request.mode === "navigate") return leadPath(url.pathname);
  if (url.pathname.startsWith("/rapport-lead")) return true;
  const client = event.clientId ? await self.clients.get(event.clientId) : undefined;
  return client !== undefined && leadPath(new URL(client.url).pathname);
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
      if (await forLead(event, url)) {
        try {
          return await fetch(request);
        } catch (error) {
          const kept = await cache.match(key);
          if (kept) return kept;
          throw error;
        }
      }
      const hit = await cache.match(key);
      return hit || fetch(request);
    })(),
  );
});
