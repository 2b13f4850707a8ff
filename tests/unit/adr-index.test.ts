import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

import { adrRows, adrTable } from "../../scripts/adr-index.mjs";

/** Every decision record carries its Date and Status, and the index lists each one as it says. */
describe("docs/decisions", () => {
  it("every ADR has a title, a Date and a Status line", () => {
    const rows = adrRows() as Array<{ file: string; title: string; status: string; date: string }>;
    expect(rows.length).toBeGreaterThan(40);
    for (const row of rows) {
      expect(row.title, row.file).not.toBe("(no title)");
      expect(row.date, row.file).toMatch(/^\d{4}-\d{2}-\d{2}$/);
      expect(row.status, row.file).toMatch(/^(Accepted|Superseded by .+|Proposed)(\. Supersedes .+)?$/);
    }
  });

  it("the index in docs/decisions/README.md is the table of the files (node scripts/adr-index.mjs rewrites it)", () => {
    const readme = readFileSync(path.resolve("docs/decisions/README.md"), "utf8");
    expect(readme).toContain(adrTable());
  });
});
