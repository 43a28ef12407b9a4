#!/usr/bin/env node
// Writes a benchmark-P1 workload to stdout: N visit documents × E edits, each edit
// ~200 bytes of Cyrillic text. The Rust benchmark writes the same shape itself; this
// script exists for running p1.mjs by hand.
//
//   node make-workload.mjs 200 20 > w.json

import { randomUUID } from "node:crypto"

const QUESTIONS = [
  "carnegie.proud_of",
  "carnegie.biggest_challenge",
  "carnegie.next_year_goals",
  "carnegie.how_we_help",
  "service.satisfaction",
  "service.complaints",
  "service.wishes",
  "competitors.considered",
  "competitors.why_us",
  "plans.expansion",
  "plans.budget",
  "plans.decision_maker",
  "referrals.who",
  "referrals.why",
  "followup.next_step",
  "followup.materials",
  "contacts.new_people",
  "contacts.changes",
  "visit.atmosphere",
  "visit.summary",
]

const PHRASES = [
  "Клиент гордится тем, что за год открыл два новых склада",
  "и сохранил всех ключевых сотрудников",
  "Главная трудность — сроки поставки комплектующих",
  "Хотят к весне перейти на ежемесячные отчёты",
  "Просили показать новую линейку оборудования",
  "Решения принимает финансовый директор",
  "довольны сервисом, но ждут ответа быстрее",
  "рассматривали двух конкурентов, выбрали нас из-за гарантии",
]

/** Parses a positive integer argument or exits with a message saying what is wrong. */
function positive(arg, name) {
  const n = Number(arg)
  if (!Number.isInteger(n) || n < 1) {
    process.stderr.write(
      `make-workload: ${name} must be a positive integer, got ${JSON.stringify(arg)}\n` +
        "usage: node make-workload.mjs <docs> <edits-per-doc> > workload.json\n",
    )
    process.exit(2)
  }
  return n
}

/** A Cyrillic text of at least `bytes` UTF-8 bytes, varied by `seed`. */
function text(seed, bytes) {
  let s = `${seed}. `
  let i = seed
  while (Buffer.byteLength(s) < bytes) {
    s += PHRASES[i % PHRASES.length] + ". "
    i += 3
  }
  return s.trim()
}

const docs = positive(process.argv[2] ?? "200", "docs")
const edits = positive(process.argv[3] ?? "20", "edits-per-doc")

const workload = { docs: [] }
for (let d = 0; d < docs; d++) {
  const doc = { id: randomUUID(), client_id: randomUUID(), date: "2026-11-27", edits: [] }
  for (let e = 0; e < edits; e++) {
    doc.edits.push({ question: QUESTIONS[e % QUESTIONS.length], text: text(d * edits + e, 200) })
  }
  workload.docs.push(doc)
}
process.stdout.write(JSON.stringify(workload) + "\n")
