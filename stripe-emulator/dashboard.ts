import { StripeApiError } from "./errors";
import { lifecycleControl } from "./lifecycle-control";
import type { Charge } from "./lifecycle-objects";
import { escapeHtml, formatAmount } from "./pages";
import { parseForm, toPlain } from "./params";
import type { EmulatorState } from "./state";

/**
 * The emulator's "Dashboard" at /dashboard: recent Checkout Sessions with
 * their charge, refunds, dispute and subscription, and plain HTML forms (no
 * script) for what Stripe would do on its own: refund, fail or settle a
 * refund, open, answer and close a dispute, renew a subscription paid or
 * failed. Each form posts to /dashboard/<kind>/<id>/<action>, runs the same
 * code as the control API (so the same events are sent) and answers 303
 * back to /dashboard. Stable ids for browser tests: #notice, #error,
 * #session-<id>, and buttons named by action and object id.
 */

export type DashboardAnswer = { status: number; html: string; location?: string };

const STYLE = `
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:#f6f9fc;color:#1a1f36;margin:0}
main{max-width:60rem;margin:2rem auto;background:#fff;padding:1.5rem 2rem;border-radius:8px;box-shadow:0 2px 8px rgba(0,0,0,.08)}
.banner{background:#fff4d6;border:1px solid #f0d070;padding:.4rem .6rem;border-radius:4px;font-size:.85rem}
section{border-top:1px solid #e3e8ee;padding:.8rem 0}h2{font-size:1rem;margin:.2rem 0}code{font-size:.8rem}
form{display:inline-block;margin:.2rem .4rem .2rem 0}input{width:7rem;padding:.3rem}
button{padding:.35rem .6rem;border-radius:6px;border:1px solid #635bff;background:#fff;color:#635bff;cursor:pointer}
ul{margin:.3rem 0;padding-left:1.2rem}
#notice{background:#e6f6ec;border:1px solid #9fd8b2;padding:.5rem;border-radius:4px}
#error{background:#fde8e8;border:1px solid #f5b5b5;color:#9b1c1c;padding:.5rem;border-radius:4px}`;

function page(status: number, body: string): DashboardAnswer {
  return {
    status,
    html: `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Dashboard (Stripe emulator)</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body>
<main>
<p class="banner">Stripe emulator: test mode. These buttons do what Stripe does on its own, and send its webhooks.</p>
${body}
</main>
</body>
</html>
`,
  };
}

const money = (amount: number, currency: string) => escapeHtml(formatAmount(amount, currency));

/** One form with one button, `#<name>-<object id>`; `fields` is extra HTML inside the form. */
function button(
  kind: string,
  id: string,
  action: string,
  label: string,
  options: { fields?: string; name?: string } = {},
) {
  const buttonId = `${options.name ?? action}-${escapeHtml(id)}`;
  return `<form method="post" action="/dashboard/${kind}/${escapeHtml(id)}/${action}">${options.fields ?? ""}<button type="submit" id="${buttonId}">${escapeHtml(label)}</button></form>`;
}

const hidden = (name: string, value: string) =>
  `<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(value)}">`;

function chargeBlock(state: EmulatorState, charge: Charge) {
  const life = state.lifecycle;
  const refunds = life.refunds.all().filter((r) => r.charge === charge.id);
  const dispute = life.disputes.all().find((d) => d.charge === charge.id);
  const lines: string[] = [];
  lines.push(
    `<p>Charge <code>${escapeHtml(charge.id)}</code>: ${escapeHtml(charge.status)}, ${money(charge.amount, charge.currency)}, refunded <span class="refunded">${money(charge.amount_refunded, charge.currency)}</span>${dispute ? `, disputed (<span class="dispute-status">${escapeHtml(dispute.status)}</span>)` : ""}</p>`,
  );
  const left = charge.amount - charge.amount_refunded;
  if (charge.status === "succeeded" && left > 0 && (!dispute || dispute.status === "won")) {
    lines.push(
      button("charges", charge.id, "refund", "Refund", {
        fields: `<label>Amount in minor units (empty: ${money(left, charge.currency)}) <input name="amount" inputmode="numeric" pattern="[0-9]*"></label> <label><input type="checkbox" name="pending" value="true" style="width:auto"> leave pending</label> `,
      }),
    );
  }
  if (charge.status === "succeeded" && !dispute && left > 0)
    lines.push(button("charges", charge.id, "dispute", "Open a dispute"));
  if (refunds.length > 0) {
    const items = refunds.map((r) => {
      const actions = [
        r.status === "pending" ? button("refunds", r.id, "succeed", "Settle") : "",
        r.status === "pending" || r.status === "succeeded" ? button("refunds", r.id, "fail", "Fail") : "",
      ].join("");
      return `<li>Refund <code>${escapeHtml(r.id)}</code>: ${money(r.amount, r.currency)}, <span class="refund-status">${escapeHtml(r.status ?? "")}</span>${r.failure_reason ? ` (${escapeHtml(r.failure_reason)})` : ""} ${actions}</li>`;
    });
    lines.push(`<ul>${items.join("")}</ul>`);
  }
  if (dispute && ["needs_response", "under_review"].includes(dispute.status)) {
    const answer =
      dispute.status === "needs_response"
        ? button("disputes", dispute.id, "update", "Submit evidence", {
            fields: hidden("evidence[uncategorized_text]", "Delivered with tracking; the customer confirmed receipt."),
          })
        : "";
    lines.push(
      `<div>Dispute <code>${escapeHtml(dispute.id)}</code>: ${answer}${button("disputes", dispute.id, "close", "Close as won", { fields: hidden("status", "won"), name: "won" })}${button("disputes", dispute.id, "close", "Close as lost", { fields: hidden("status", "lost"), name: "lost" })}</div>`,
    );
  }
  return lines.join("\n");
}

function overview(state: EmulatorState, notice: string | null, error: string | null, status = 200): DashboardAnswer {
  const life = state.lifecycle;
  const sessions = state.sessions
    .all()
    .filter((r) => r.session.status === "complete")
    .slice(-50)
    .reverse();
  const blocks = sessions.map((record) => {
    const s = record.session;
    const parts = [
      `<h2>${escapeHtml(s.mode === "subscription" ? "Subscription" : "Payment")} ${money(s.amount_total, s.currency)} by ${escapeHtml(s.customer_details?.email ?? "?")}: ${escapeHtml(s.payment_status)}</h2>`,
      `<p><code>${escapeHtml(s.id)}</code></p>`,
    ];
    const subscription = s.subscription ? state.subscriptions.get(s.subscription) : undefined;
    if (subscription) {
      const invoices = life.invoices
        .all()
        .filter((i) => i.parent?.subscription_details?.subscription === subscription.id);
      parts.push(
        `<p>Subscription <code>${escapeHtml(subscription.id)}</code>: <span class="subscription-status">${escapeHtml(subscription.status)}</span>, ${invoices.length} invoice(s), latest ${escapeHtml(invoices.at(-1)?.status ?? "none")}</p>`,
      );
      if (["active", "trialing", "past_due"].includes(subscription.status)) {
        parts.push(
          button("subscriptions", subscription.id, "advance", "Renew: payment succeeds", {
            fields: hidden("outcome", "paid"),
            name: "renew-paid",
          }) +
            button("subscriptions", subscription.id, "advance", "Renew: payment fails", {
              fields: hidden("outcome", "failed"),
              name: "renew-failed",
            }),
        );
      }
    }
    const charge = life.chargeOfSession(record);
    if (charge) parts.push(chargeBlock(state, charge));
    return `<section id="session-${escapeHtml(s.id)}">\n${parts.join("\n")}\n</section>`;
  });
  const body = `<h1>Payments</h1>
${notice ? `<p id="notice" role="status">${escapeHtml(notice)}</p>` : ""}
${error ? `<div id="error" role="alert">${escapeHtml(error)}</div>` : ""}
${blocks.length > 0 ? blocks.join("\n") : "<p>No completed checkout yet: pay one first.</p>"}`;
  return page(status, body);
}

const DONE: Record<string, string> = {
  refund: "Refund created.",
  dispute: "Dispute opened.",
  succeed: "Refund settled.",
  fail: "Refund failed.",
  update: "Evidence submitted.",
  close: "Dispute closed.",
  advance: "Subscription renewed.",
};

export function dashboard(
  state: EmulatorState,
  method: string,
  path: string,
  query: URLSearchParams,
  rawBody: string,
): DashboardAnswer {
  const parts = path.split("/").filter(Boolean).slice(1);
  if (parts.length === 0 && (method === "GET" || method === "HEAD")) {
    const done = query.get("done");
    return overview(state, done && Object.values(DONE).includes(done) ? done : null, null);
  }
  if (method !== "POST" || parts.length !== 3)
    return page(404, `<h1>Not found</h1><p><a href="/dashboard">Dashboard</a></p>`);
  const form = toPlain(parseForm(rawBody)) as Record<string, unknown>;
  try {
    const result = lifecycleControl(state, "POST", parts, form);
    if (!result) return page(404, `<h1>Not found</h1><p><a href="/dashboard">Dashboard</a></p>`);
    if (result.status !== 200) {
      const message = (result.body as { error?: { message?: string } }).error?.message ?? "Not found";
      return overview(state, null, message, result.status);
    }
    return { status: 303, html: "", location: `/dashboard?done=${encodeURIComponent(DONE[parts[2]!] ?? "Done.")}` };
  } catch (error: unknown) {
    if (error instanceof StripeApiError) return overview(state, null, error.message, error.status);
    throw error;
  }
}
