#!/usr/bin/env node
// Benchmark P1, JavaScript side: the same workload Rapport syncs, done with
// automerge-repo 1.x and its real sync server, so the two can be compared.
//
//   node p1.mjs <workload.json> [--verify-durable]
//
// Prints exactly one line of JSON to stdout; everything else goes to stderr.
// See README.md for what each phase measures and what "acknowledged" means.

import { spawn } from "node:child_process"
import fs from "node:fs"
import net from "node:net"
import os from "node:os"
import path from "node:path"
import { performance } from "node:perf_hooks"
import { randomUUID } from "node:crypto"
import { fileURLToPath } from "node:url"

import * as A from "@automerge/automerge"
import { Repo } from "@automerge/automerge-repo"
import { BrowserWebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"

const HERE = path.dirname(fileURLToPath(import.meta.url))
const OVERALL_TIMEOUT_MS = envMs("P1_TIMEOUT_MS", 300_000)
const SERVER_START_TIMEOUT_MS = 30_000

/** The phase we are in, named in the message when the overall timeout fires. */
let phase = "startup"
/** The running sync-server child process, killed on every way out. */
let server = null
/** The temp dir holding the server's data; removed on every way out. */
let tmpDir = null

function log(msg) {
  process.stderr.write(`p1: ${msg}\n`)
}

function envMs(name, fallback) {
  const v = process.env[name]
  if (v === undefined) return fallback
  const n = Number(v)
  if (!Number.isFinite(n) || n <= 0) fail(`${name} must be a positive number of milliseconds, got ${JSON.stringify(v)}`)
  return n
}

/** Kills the server and removes the temp dir; safe to call more than once. */
function cleanup() {
  if (server && server.exitCode === null && server.signalCode === null) {
    server.kill("SIGKILL")
  }
  server = null
  if (tmpDir) {
    try {
      fs.rmSync(tmpDir, { recursive: true, force: true })
    } catch (e) {
      log(`could not remove temp dir ${tmpDir}: ${e.message}`)
    }
    tmpDir = null
  }
}

function fail(msg, code = 1) {
  log(`error: ${msg}`)
  cleanup()
  process.exit(code)
}

process.on("SIGINT", () => fail("interrupted", 130))
process.on("SIGTERM", () => fail("terminated", 143))
process.on("uncaughtException", e => fail(`in phase ${phase}: ${e.stack ?? e}`))
process.on("unhandledRejection", e => fail(`in phase ${phase}: ${e?.stack ?? e}`))

// ---------------------------------------------------------------- workload

/** Reads and checks the workload file; exits with a message naming the first problem. */
function readWorkload(file) {
  let raw
  try {
    raw = fs.readFileSync(file, "utf8")
  } catch (e) {
    fail(`cannot read workload file ${file}: ${e.message}`, 2)
  }
  let w
  try {
    w = JSON.parse(raw)
  } catch (e) {
    fail(`workload file ${file} is not JSON: ${e.message}`, 2)
  }
  const bad = what => fail(`workload file ${file} has the wrong shape: ${what} (expected {"docs":[{"id","client_id","date","edits":[{"question","text"}]}]})`, 2)
  if (w === null || typeof w !== "object" || !Array.isArray(w.docs)) bad("no \"docs\" array")
  if (w.docs.length === 0) bad("\"docs\" is empty")
  w.docs.forEach((d, i) => {
    if (d === null || typeof d !== "object") bad(`docs[${i}] is not an object`)
    for (const k of ["id", "client_id", "date"]) {
      if (typeof d[k] !== "string") bad(`docs[${i}].${k} is not a string`)
    }
    if (!Array.isArray(d.edits) || d.edits.length === 0) bad(`docs[${i}].edits is not a non-empty array`)
    d.edits.forEach((e, j) => {
      if (e === null || typeof e !== "object" || typeof e.question !== "string" || typeof e.text !== "string") {
        bad(`docs[${i}].edits[${j}] is not {"question": string, "text": string}`)
      }
      if (e.question === "") bad(`docs[${i}].edits[${j}].question is empty`)
    })
  })
  return w
}

// ---------------------------------------------------------------- sync server

/** Asks the OS for a free TCP port on 127.0.0.1. */
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.once("error", reject)
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })
}

/** Resolves when a TCP connection to 127.0.0.1:port succeeds, false if it is refused. */
function canConnect(port) {
  return new Promise(resolve => {
    const sock = net.connect({ host: "127.0.0.1", port })
    sock.once("connect", () => {
      sock.destroy()
      resolve(true)
    })
    sock.once("error", () => resolve(false))
  })
}

/** The sync server's start script, found through its package.json "bin". */
function serverMain() {
  const dir = path.join(HERE, "node_modules", "@automerge", "automerge-repo-sync-server")
  const pkg = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8"))
  const bin = typeof pkg.bin === "string" ? pkg.bin : Object.values(pkg.bin ?? {})[0]
  if (!bin) fail(`no "bin" in ${dir}/package.json; run npm ci in ${HERE}`)
  return path.join(dir, bin)
}

/**
 * Starts the real sync server as a separate node process (its own bin script, PORT and
 * DATA_DIR from the environment, as its src/server.js reads them) and waits until it
 * accepts connections.
 */
async function startServer(port, dataDir) {
  const child = spawn(process.execPath, [serverMain()], {
    // The server serves express.static("public") relative to its cwd: keep that inside the temp dir.
    cwd: tmpDir,
    env: { ...process.env, PORT: String(port), DATA_DIR: dataDir },
    stdio: ["ignore", "pipe", "pipe"],
  })
  server = child
  let output = ""
  const keep = chunk => {
    output = (output + chunk).slice(-4000)
    process.stderr.write(`  [sync-server] ${chunk}`)
  }
  child.stdout.setEncoding("utf8").on("data", keep)
  child.stderr.setEncoding("utf8").on("data", keep)
  const deadline = performance.now() + SERVER_START_TIMEOUT_MS
  while (performance.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      fail(`sync server exited (code ${child.exitCode}, signal ${child.signalCode}) before accepting connections; its output:\n${output}`)
    }
    if (await canConnect(port)) return child
    await sleep(50)
  }
  fail(`sync server did not accept connections on 127.0.0.1:${port} within ${SERVER_START_TIMEOUT_MS / 1000} s; its output:\n${output}`)
}

/** Stops the server the way an operator's kill would (no graceful shutdown exists in 0.2.8). */
async function stopServer(child) {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise(resolve => child.once("exit", resolve))
  child.kill("SIGTERM")
  await exited
  if (server === child) server = null
}

// ---------------------------------------------------------------- helpers

function sleep(ms) {
  return new Promise(resolve => setTimeout(resolve, ms))
}

/** "first/median/last" of a list of times, for the progress log. */
function spread(times) {
  const s = [...times].sort((a, b) => a - b)
  return [s[0], s[Math.floor(s.length / 2)], s[s.length - 1]].map(x => x.toFixed(0)).join("/")
}

function sameHeads(a, b) {
  if (!a || !b || a.length !== b.length) return false
  const sa = [...a].sort()
  const sb = [...b].sort()
  return sa.every((h, i) => h === sb[i])
}

/**
 * Resolves once `check()` is true, re-checking whenever `handle` emits one of `events`.
 * Bounded by the overall timeout only: a hang is reported with the phase name.
 */
function whenTrue(handle, events, check) {
  if (check()) return Promise.resolve()
  return new Promise(resolve => {
    const onEvent = () => {
      if (check()) {
        for (const e of events) handle.off(e, onEvent)
        resolve()
      }
    }
    for (const e of events) handle.on(e, onEvent)
  })
}

/** A client adapter that will not reconnect after we close it. */
function closeClient(adapter) {
  adapter.retryInterval = 0
  try {
    adapter.disconnect()
  } catch {
    // The socket may already be closed; nothing to tell the server then.
  }
  adapter.socket?.close()
}

function readVersion(pkgName) {
  const file = path.join(HERE, "node_modules", ...pkgName.split("/"), "package.json")
  return JSON.parse(fs.readFileSync(file, "utf8")).version
}

/**
 * A fresh, empty, in-memory client that finds every document from the server and
 * waits until each has the writer's final heads. Returns the handles.
 */
async function downloadAll(url, docIds, finalHeads) {
  const adapter = new BrowserWebSocketClientAdapter(url)
  const repo = new Repo({ network: [adapter], peerId: `p1-reader-${randomUUID()}` })
  const t = performance.now()
  const handles = docIds.map(id => repo.find(id))
  const readyAt = []
  const doneAt = []
  repo.networkSubsystem.once("peer", () => log(`P1c: reader connected after ${(performance.now() - t).toFixed(0)} ms`))
  await Promise.all(
    handles.map(async (h, i) => {
      await h.whenReady(["ready", "unavailable"])
      readyAt.push(performance.now() - t)
      if (!h.isReady()) fail(`P1c: the server says document ${docIds[i]} is unavailable`)
      await whenTrue(h, ["heads-changed"], () => sameHeads(h.heads(), finalHeads[i]))
      doneAt.push(performance.now() - t)
    }),
  )
  log(`P1c: docs ready (first/median/last) ${spread(readyAt)} ms; complete ${spread(doneAt)} ms`)
  return { repo, adapter, handles }
}

/**
 * Starts a sync server on `dir`, asks a fresh client for every document and counts those
 * that arrive with the writer's final heads (bounded: 5 s per document after it is found).
 */
async function probeServer(port, dir, docIds, finalHeads) {
  const child = await startServer(port, dir)
  const adapter = new BrowserWebSocketClientAdapter(`ws://127.0.0.1:${port}`)
  const repo = new Repo({ network: [adapter], peerId: `p1-durable-${randomUUID()}` })
  const complete = await Promise.all(
    docIds.map(async (id, i) => {
      const h = repo.find(id)
      await h.whenReady(["ready", "unavailable"])
      if (!h.isReady()) return false
      const late = sleep(5_000).then(() => false)
      return Promise.race([whenTrue(h, ["heads-changed"], () => sameHeads(h.heads(), finalHeads[i])).then(() => true), late])
    }),
  )
  closeClient(adapter)
  await stopServer(child)
  return complete.filter(Boolean).length
}

/** Checks every answer of every downloaded document against the workload; returns problems. */
function contentProblems(workload, handles) {
  const problems = []
  workload.docs.forEach((wd, i) => {
    const doc = handles[i].docSync()
    const expected = {}
    for (const e of wd.edits) expected[e.question] = e.text
    if (doc?.client_id !== wd.client_id || doc?.date !== wd.date) problems.push(`doc ${wd.id}: client_id/date differ`)
    for (const [q, t] of Object.entries(expected)) {
      const got = doc?.answers?.[q]
      if (String(got) !== t) problems.push(`doc ${wd.id}: answer ${q} differs`)
    }
    const extra = Object.keys(doc?.answers ?? {}).filter(q => !(q in expected))
    if (extra.length) problems.push(`doc ${wd.id}: unexpected answers ${extra.join(", ")}`)
  })
  return problems
}

// ---------------------------------------------------------------- main

async function main() {
  const args = process.argv.slice(2)
  const verifyDurable = args.includes("--verify-durable")
  const unknown = args.filter(a => a.startsWith("--") && a !== "--verify-durable")
  const files = args.filter(a => !a.startsWith("--"))
  if (unknown.length || files.length !== 1) {
    fail(`usage: node p1.mjs <workload.json> [--verify-durable]${unknown.length ? ` (unknown flag ${unknown.join(" ")})` : ""}`, 2)
  }
  const workload = readWorkload(files[0])
  const nDocs = workload.docs.length
  const nEdits = workload.docs.reduce((n, d) => n + d.edits.length, 0)

  const started = performance.now()
  const timer = setTimeout(() => fail(`timed out after ${OVERALL_TIMEOUT_MS / 1000} s in phase ${phase}`, 3), OVERALL_TIMEOUT_MS)

  phase = "server start"
  tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), "rapport-p1-js-"))
  const dataDir = path.join(tmpDir, "data")
  const port = await freePort()
  const url = `ws://127.0.0.1:${port}`
  let child = await startServer(port, dataDir)
  log(`sync server up on ${url}, data in ${dataDir}`)

  // ---- P1a: local edits in a writer repo with no network and no storage.
  phase = "P1a local"
  const writer = new Repo({ network: [], peerId: `p1-writer-${randomUUID()}` })
  const t0 = performance.now()
  const handles = []
  for (const wd of workload.docs) {
    const h = writer.create({ client_id: wd.client_id, date: wd.date, answers: {} })
    for (const e of wd.edits) {
      h.change(d => {
        d.answers[e.question] = e.text
      })
    }
    handles.push(h)
  }
  const p1aMs = performance.now() - t0
  // The loop is synchronous, so the timer could not fire inside it: check by hand.
  if (performance.now() - started > OVERALL_TIMEOUT_MS) fail(`timed out after ${OVERALL_TIMEOUT_MS / 1000} s in phase ${phase}`, 3)
  const finalHeads = handles.map(h => A.getHeads(h.docSync()))
  log(`P1a: ${nDocs} docs, ${nEdits} edits in ${p1aMs.toFixed(1)} ms`)

  // ---- P1b: attach the server and wait until its acknowledged heads cover every document.
  phase = "P1b upload"
  const writerAdapter = new BrowserWebSocketClientAdapter(url)
  const t1 = performance.now()
  // The server announces its storageId in the peer handshake; the Repo's own "peer"
  // listener (registered first) has stored it in peerMetadataByPeerId by the time ours runs.
  const serverStorageId = new Promise(resolve => {
    writer.networkSubsystem.on("peer", ({ peerId }) => {
      const sid = writer.getStorageIdOfPeer(peerId)
      if (sid) resolve(sid)
      else log(`peer ${peerId} has no storageId; it cannot acknowledge durable heads`)
    })
  })
  writer.networkSubsystem.addNetworkAdapter(writerAdapter)
  const storageId = await serverStorageId
  // Repo's "sync-state" handler calls handle.setRemoteHeads(storageId, syncState.theirHeads)
  // each time a sync message from the server tells us the heads it now has.
  await Promise.all(
    handles.map((h, i) =>
      whenTrue(h, ["remote-heads"], () => sameHeads(h.getRemoteHeads(storageId), finalHeads[i])),
    ),
  )
  const p1bMs = performance.now() - t1
  // Honest check: every handle's server-acknowledged heads equal its own final heads.
  const unacked = handles.filter(h => !sameHeads(h.getRemoteHeads(storageId), A.getHeads(h.docSync())))
  if (unacked.length) fail(`P1b ended with ${unacked.length} documents not acknowledged by the server`)
  log(`P1b: server (storageId ${storageId}) acknowledged all ${nDocs} docs in ${p1bMs.toFixed(1)} ms`)

  const docIds = handles.map(h => h.documentId)
  const result = {}

  // What the server had on disk at the moment of its acknowledgement: a copy taken now
  // (outside every timed phase) is what a crash right after the ack would leave behind.
  const atAckDir = path.join(tmpDir, "data-at-ack")
  if (verifyDurable) {
    phase = "snapshot at ack"
    fs.cpSync(dataDir, atAckDir, { recursive: true })
  }

  // ---- P1c: a fresh client downloads everything.
  phase = "P1c download"
  const t2 = performance.now()
  const reader = await downloadAll(url, docIds, finalHeads)
  const p1cMs = performance.now() - t2
  const problems = contentProblems(workload, reader.handles)
  if (problems.length) fail(`P1c: downloaded content differs from the workload:\n  ${problems.slice(0, 10).join("\n  ")}`)
  log(`P1c: fresh client has all ${nDocs} docs with final heads and content in ${p1cMs.toFixed(1)} ms`)
  closeClient(reader.adapter)

  if (verifyDurable) {
    phase = "durability check"
    // The writer goes away first, so it cannot re-upload to the restarted server.
    closeClient(writerAdapter)
    await stopServer(child)
    const stoppedAfterMs = performance.now() - t1 - p1bMs
    const durableDocs = await probeServer(port, dataDir, docIds, finalHeads)
    result.durable = durableDocs === nDocs
    result.durable_docs = durableDocs
    log(`durability: server stopped ${stoppedAfterMs.toFixed(0)} ms after its ack; restarted on the same data dir, it served ${result.durable_docs}/${nDocs} documents complete`)
    result.durable_at_ack_docs = await probeServer(port, atAckDir, docIds, finalHeads)
    log(`durability: a server started on the copy of its data dir taken at the ack served ${result.durable_at_ack_docs}/${nDocs} documents complete`)
  }

  closeClient(writerAdapter)
  clearTimeout(timer)
  phase = "shutdown"
  const out = {
    p1a_ms: round(p1aMs),
    p1b_ms: round(p1bMs),
    p1c_ms: round(p1cMs),
    docs: nDocs,
    edits: nEdits,
    ...result,
    versions: {
      "automerge-repo": readVersion("@automerge/automerge-repo"),
      "sync-server": readVersion("@automerge/automerge-repo-sync-server"),
      automerge: readVersion("@automerge/automerge"),
    },
  }
  process.stdout.write(JSON.stringify(out) + "\n")
  cleanup()
  // Client adapters keep timers (reconnect, 1 s ready fallback); nothing else is pending.
  process.exit(0)
}

function round(ms) {
  return Math.round(ms * 100) / 100
}

main().catch(e => fail(`in phase ${phase}: ${e?.stack ?? e}`))
