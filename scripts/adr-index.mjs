#!/usr/bin/env node
// Rewrites the table in docs/decisions/README.md from the ADR files themselves
// (number, title, Status and Date lines): `node scripts/adr-index.mjs`.
// tests/unit/adr-index.test.ts fails when the table and the files disagree.
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";

const dir = path.resolve(import.meta.dirname, "../docs/decisions");

export function adrRows() {
  return readdirSync(dir)
    .filter((name) => /^\d{3}-.+\.md$/.test(name))
    .sort()
    .map((file) => {
      const text = readFileSync(path.join(dir, file), "utf8");
      const title = /^# \d{3}: (.+)$/m.exec(text)?.[1]?.trim() ?? "(no title)";
      const status = /^Status: (.+)$/m.exec(text)?.[1]?.trim().replace(/\.$/, "") ?? "(no status)";
      const date = /^Date: (.+)$/m.exec(text)?.[1]?.trim() ?? "(no date)";
      return { number: file.slice(0, 3), file, title, status, date };
    });
}

export function adrTable(rows = adrRows()) {
  const cells = rows.map((r) => [`[${r.number}](${r.file})`, r.title, r.status, r.date]);
  const head = ["ADR", "title", "status", "date"];
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c) => `| ${c.map((v, i) => v.padEnd(widths[i])).join(" | ")} |`;
  return [line(head), `| ${widths.map((w) => "-".repeat(w)).join(" | ")} |`, ...cells.map(line)].join("\n");
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) {
  const readme = path.join(dir, "README.md");
  const text = readFileSync(readme, "utf8");
  const start = text.indexOf("| ADR");
  if (start === -1) throw new Error("docs/decisions/README.md has no table starting with | ADR");
  writeFileSync(readme, `${text.slice(0, start)}${adrTable()}\n`);
}
