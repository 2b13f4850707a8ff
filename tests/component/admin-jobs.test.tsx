import { json } from "@remix-run/node";
import { createRemixStub } from "@remix-run/testing";
import { render, screen, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";

import AdminJobs from "~/routes/admin.jobs";

/** What an operator reads on /admin/jobs: counts, each dead job's error, and the retry forms. */

const COUNTS = [
  { state: "pending", n: 2 },
  { state: "running", n: 0 },
  { state: "done", n: 40 },
  { state: "dead", n: 1 },
];
const DEAD = {
  id: 17,
  kind: "order.paid",
  key: "order.paid:cs_test_a1",
  attempts: 8,
  lastError: "SMTP 550 mailbox unavailable",
  createdAt: Date.UTC(2026, 11, 1, 10, 0, 0),
  updatedAt: Date.UTC(2026, 11, 1, 11, 30, 0),
};

function renderJobs(dead: (typeof DEAD)[], retried: number | null = null) {
  const Stub = createRemixStub([
    {
      id: "routes/admin.jobs",
      path: "/admin/jobs",
      Component: AdminJobs,
      loader: () => json({ operator: "ops@example.com", counts: COUNTS, dead, retried }),
    },
  ]);
  return render(<Stub initialEntries={["/admin/jobs"]} />);
}

describe("the console's jobs page", () => {
  it("shows the counts and a dead job's kind, key, attempts and error, with a Retry form for its id", async () => {
    renderJobs([DEAD]);
    const row = (await screen.findByText("SMTP 550 mailbox unavailable")).closest("tr")!;
    expect(within(row).getByText("order.paid")).toBeTruthy();
    expect(within(row).getByText("order.paid:cs_test_a1")).toBeTruthy();
    expect(within(row).getByText("8")).toBeTruthy();
    expect(within(row).getByText(/1 Dec 2026, 11:30:00 UTC/)).toBeTruthy();
    const retry = within(row).getByRole("button", { name: "Retry" }).closest("form")!;
    expect(retry.getAttribute("method")).toBe("post");
    expect(new FormData(retry).get("intent")).toBe("retry");
    expect(new FormData(retry).get("id")).toBe("17");
    const all = screen.getByRole("button", { name: "Retry all dead" }).closest("form")!;
    expect(new FormData(all).get("intent")).toBe("retry-all");
    expect(document.querySelector(".count-done")?.textContent).toBe("40");
  });

  it("with nothing dead: no retry buttons, and after a retry says how many were requeued", async () => {
    renderJobs([], 3);
    expect(await screen.findByText("Nothing has failed for good.")).toBeTruthy();
    expect(screen.queryByRole("button", { name: /Retry/ })).toBeNull();
    expect(screen.getByRole("status").textContent).toMatch(/Requeued 3 dead jobs/);
  });
});
