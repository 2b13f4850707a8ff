import { json, type LoaderFunction } from "@remix-run/node";
import { Meta, Outlet } from "@remix-run/react";
import { createRemixStub } from "@remix-run/testing";
import { render, screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";

import type { SuccessView } from "~/components/order-status";
import CheckoutSuccess, { ErrorBoundary, meta } from "~/routes/checkout.success";

/** What a shopper reads on the success page, one test per state. */

const ORDER: SuccessView["order"] = {
  productName: "Ceramic Pour-Over Dripper",
  productSlug: "ceramic-pour-over",
  mode: "payment",
  quantity: 2,
  amount: "$64.00",
  email: "ada@example.com",
  afterPayment: null,
};

function renderPage(loader: LoaderFunction) {
  const Stub = createRemixStub([
    {
      id: "root",
      path: "/",
      // <Meta /> as root.tsx renders it, so that the refresh tag can be seen.
      Component: () => (
        <>
          <Meta />
          <Outlet />
        </>
      ),
      children: [
        {
          id: "routes/checkout.success",
          path: "checkout/success",
          Component: CheckoutSuccess,
          ErrorBoundary,
          loader,
          meta: meta as never,
        },
      ],
    },
  ]);
  return render(<Stub initialEntries={["/checkout/success?session_id=cs_test_abc123"]} />);
}

const showing = (view: Partial<SuccessView>) =>
  renderPage(() => json({ state: "paid", refreshSeconds: null, order: ORDER, ...view }));

const refreshTag = (container: HTMLElement) => container.querySelector('meta[http-equiv="refresh"]');

describe("the success page", () => {
  it("paid, a cart's order: lists each line with its quantity, unit price and line total", async () => {
    showing({
      state: "paid",
      order: {
        ...ORDER,
        quantity: 2,
        fromCart: true,
        amount: "$118.00",
        lines: [
          { name: "Ceramic Pour-Over Dripper", quantity: 2, unitPrice: "$32.00", lineTotal: "$64.00" },
          { name: "Stoneware Mug", quantity: 3, unitPrice: "$18.00", lineTotal: "$54.00" },
        ],
      },
    });
    const table = await screen.findByRole("table", { name: "What you ordered" });
    expect([...table.querySelectorAll("tbody tr")].map((row) => row.textContent)).toEqual([
      "Ceramic Pour-Over Dripper2$32.00$64.00",
      "Stoneware Mug3$18.00$54.00",
    ]);
    expect(screen.getByText("$118.00")).toBeInTheDocument();
  });

  it("failed, a cart's order: leads back to the cart", async () => {
    showing({ state: "failed", order: { ...ORDER, fromCart: true } });
    expect(await screen.findByRole("link", { name: "Try again: your cart" })).toHaveAttribute("href", "/cart");
  });

  it("paid with a discount, shipping and tax: shows each line and the total, not the amount alone", async () => {
    showing({
      state: "paid",
      order: {
        ...ORDER,
        amount: "$77.21",
        totals: { subtotal: "$64.00", discount: "-$6.40", shipping: "$15.00", tax: "$4.61", total: "$77.21" },
      },
    });
    for (const [label, amount] of [
      ["Subtotal", "$64.00"],
      ["Discount", "-$6.40"],
      ["Shipping", "$15.00"],
      ["Tax", "$4.61"],
      ["Total", "$77.21"],
    ] as const) {
      const term = await screen.findByText(label, { selector: "dt" });
      expect(term.nextElementSibling).toHaveTextContent(amount);
    }
    expect(screen.queryByText("Amount", { selector: "dt" })).toBeNull();
  });

  it("paid, then refunded in part: says how much came back", async () => {
    showing({ state: "paid", order: { ...ORDER, afterPayment: "Refunded $12.00 of $64.00" } });
    expect(await screen.findByText("Refunded $12.00 of $64.00")).toBeInTheDocument();
    expect(screen.getByText("$64.00")).toBeInTheDocument();
  });

  it("paid: the order, the email Stripe collected, and what happens next", async () => {
    const { container } = showing({ state: "paid" });
    expect(
      await screen.findByRole("heading", { level: 1, name: "Thank you: your payment went through." }),
    ).toBeInTheDocument();
    expect(screen.getByText("Ceramic Pour-Over Dripper")).toBeInTheDocument();
    expect(screen.getByText("2")).toBeInTheDocument();
    expect(screen.getByText("$64.00")).toBeInTheDocument();
    expect(screen.getByText("ada@example.com")).toBeInTheDocument();
    expect(screen.getByRole("heading", { name: "What happens next" })).toBeInTheDocument();
    expect(
      screen.getByText(/A receipt is on its way to ada@example.com, and we will email you again/),
    ).toBeInTheDocument();
    expect(screen.getByRole("link", { name: "Your orders" })).toHaveAttribute("href", "/orders");
    expect(refreshTag(container)).toBeNull();
  });

  it("paid subscription: says it is active and where to manage it", async () => {
    showing({
      state: "paid",
      order: {
        ...ORDER,
        mode: "subscription",
        productName: "Coffee Club Monthly",
        quantity: 1,
        amount: "$18.00",
        interval: "month",
      },
    });
    expect(await screen.findByText(/Your subscription is active\./)).toBeInTheDocument();
    expect(screen.getByText("$18.00 per month")).toBeInTheDocument();
    expect(screen.getByText(/manage\s+or cancel it any time from/)).toBeInTheDocument();
  });

  it("paid but held for review: says the payment arrived and that we will email", async () => {
    showing({ state: "review" });
    expect(await screen.findByRole("heading", { level: 1, name: "We received your payment." })).toBeInTheDocument();
    expect(screen.getByText(/check this order by hand\. We will email you at ada@example.com/)).toBeInTheDocument();
  });

  it("processing: says so, asks not to pay again, and refreshes itself every 3 seconds", async () => {
    const { container } = showing({ state: "processing", refreshSeconds: 3 });
    expect(
      await screen.findByRole("heading", { level: 1, name: "Your payment is being processed." }),
    ).toBeInTheDocument();
    expect(screen.getByRole("status")).toHaveTextContent(
      "This page checks again by itself every few seconds. Please do not pay again.",
    );
    expect(screen.getByRole("link", { name: "go back to Ceramic Pour-Over Dripper" })).toHaveAttribute(
      "href",
      "/products/ceramic-pour-over",
    );
    expect(refreshTag(container)).toHaveAttribute("content", "3");
  });

  it("waiting for the bank: the promise to email, refreshing more slowly", async () => {
    const { container } = showing({
      state: "waiting_for_bank",
      refreshSeconds: 10,
      order: { ...ORDER, email: "bank@example.com" },
    });
    expect(await screen.findByRole("status")).toHaveTextContent(
      "We will email you when the payment clears (to bank@example.com).",
    );
    expect(refreshTag(container)).toHaveAttribute("content", "10");
  });

  it("failed: you were not charged, and a way to try again", async () => {
    const { container } = showing({ state: "failed" });
    expect(await screen.findByText("You were not charged.")).toBeInTheDocument();
    expect(screen.getByRole("link", { name: "Try again: Ceramic Pour-Over Dripper" })).toHaveAttribute(
      "href",
      "/products/ceramic-pour-over",
    );
    expect(screen.queryByText("$64.00")).toBeNull();
    expect(refreshTag(container)).toBeNull();
  });

  it("expired: you were not charged, with a link back to the product", async () => {
    const { container } = showing({
      state: "expired",
      order: { ...ORDER, productName: "Digital Gift Card", productSlug: "gift-card" },
    });
    expect(await screen.findByText("You were not charged.")).toBeInTheDocument();
    expect(screen.getByRole("link", { name: "Back to Digital Gift Card" })).toHaveAttribute(
      "href",
      "/products/gift-card",
    );
    expect(refreshTag(container)).toBeNull();
  });
});

describe("the success page's refusals", () => {
  const refusing = (status: number, text: string) =>
    renderPage(() => {
      throw new Response(text, { status });
    });

  it("404: one page for every id that is not this shopper's", async () => {
    refusing(404, "Orders show only in the browser they were bought with. If you paid, your receipt is in your email.");
    expect(await screen.findByRole("heading", { level: 1, name: "We could not find that order." })).toBeInTheDocument();
    expect(screen.getByText(/Orders show only in the browser they were bought with/)).toBeInTheDocument();
    expect(screen.queryByText(/\$/)).toBeNull();
  });

  it("400: the link is not an order link", async () => {
    refusing(400, "An order link ends in ?session_id=cs_... exactly as the payment page sent it.");
    expect(
      await screen.findByRole("heading", { level: 1, name: "That is not a valid order link." }),
    ).toBeInTheDocument();
    expect(screen.getByText(/exactly as the payment page sent it/)).toBeInTheDocument();
  });

  it("429: too many tries, wait a minute", async () => {
    refusing(429, "Nothing was looked up.");
    expect(
      await screen.findByRole("heading", {
        level: 1,
        name: "Too many order links tried. Please wait a minute and try again.",
      }),
    ).toBeInTheDocument();
  });
});
