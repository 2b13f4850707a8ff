import { json, type ActionFunction } from "@remix-run/node";
import { createRemixStub } from "@remix-run/testing";
import { fireEvent, render, screen, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";

import type { OrderListItem } from "~/components/order-list";
import Orders, { ErrorBoundary } from "~/routes/orders";

/** What a shopper reads on /orders, and the "Manage subscription" form. */

const SUBSCRIPTION: OrderListItem = {
  id: "cs_test_club123",
  productName: "Coffee Club Monthly",
  quantity: 1,
  amount: "$18.00",
  state: "Paid: Subscription active",
  date: "Jan 12, 2025",
  dateTime: "2025-01-12T00:00:00.000Z",
  canManage: true,
};

const ONE_OFF: OrderListItem = {
  id: "cs_test_dripper456",
  productName: "Ceramic Pour-Over Dripper",
  quantity: 3,
  amount: "$96.00",
  state: "Waiting for your bank",
  date: "Jan 10, 2025",
  dateTime: "2025-01-10T00:00:00.000Z",
  canManage: false,
};

function renderOrders(orders: OrderListItem[], action?: ActionFunction) {
  const Stub = createRemixStub([
    { id: "routes/orders", path: "/orders", Component: Orders, ErrorBoundary, loader: () => json({ orders }), action },
  ]);
  return render(<Stub initialEntries={["/orders"]} />);
}

describe("the orders page", () => {
  it("no orders yet: a friendly page pointing to the shop", async () => {
    renderOrders([]);
    expect(await screen.findByRole("heading", { level: 1, name: "Your orders" })).toBeInTheDocument();
    expect(
      screen.getByText(/No orders yet\. Orders show up here in the browser you bought them with\./),
    ).toBeInTheDocument();
    expect(screen.getByRole("link", { name: "Browse the shop" })).toHaveAttribute("href", "/");
    expect(screen.queryByRole("table")).toBeNull();
  });

  it("lists each order with its date, product, quantity, amount and state, in the order given (newest first)", async () => {
    renderOrders([SUBSCRIPTION, ONE_OFF]);
    const rows = (await screen.findAllByRole("row")).slice(1);
    expect(rows).toHaveLength(2);
    expect(rows[0]).toHaveTextContent("Jan 12, 2025");
    expect(rows[0]).toHaveTextContent("Coffee Club Monthly");
    expect(rows[0]).toHaveTextContent("Paid: Subscription active");
    expect(rows[1]).toHaveTextContent("Ceramic Pour-Over Dripper");
    expect(rows[1]).toHaveTextContent("3");
    expect(rows[1]).toHaveTextContent("$96.00");
    expect(rows[1]).toHaveTextContent("Waiting for your bank");
    expect(within(rows[0]!).getByText("Jan 12, 2025").closest("time")).toHaveAttribute(
      "datetime",
      "2025-01-12T00:00:00.000Z",
    );
  });

  it("gives a subscription a real Manage subscription form that sends only which checkout it means", async () => {
    renderOrders([SUBSCRIPTION, ONE_OFF]);
    const buttons = await screen.findAllByRole("button", { name: "Manage subscription" });
    expect(buttons).toHaveLength(1); // the one-off order has none
    const form = buttons[0]!.closest("form")!;
    expect(form).toHaveAttribute("method", "post");
    expect(form).toHaveAttribute("action", "/orders");
    const fields = [...form.querySelectorAll("input")].map((input) => [input.name, input.type, input.value]);
    expect(fields).toEqual([
      ["intent", "hidden", "portal"],
      ["checkout", "hidden", "cs_test_club123"],
    ]);
  });

  it("shows the refusal next to the form after a 404, and keeps the list", async () => {
    renderOrders([SUBSCRIPTION], () =>
      json(
        { error: { checkout: "cs_test_club123", message: "We could not find that subscription among your orders." } },
        { status: 404 },
      ),
    );
    fireEvent.click(await screen.findByRole("button", { name: "Manage subscription" }));
    const alert = await screen.findByRole("alert");
    expect(alert).toHaveTextContent("We could not find that subscription among your orders.");
    expect(alert.closest("form")).not.toBeNull();
    expect(screen.getByText("Coffee Club Monthly")).toBeInTheDocument();
  });

  it("shows a 502 from the payment service", async () => {
    renderOrders([SUBSCRIPTION], () =>
      json(
        {
          error: {
            checkout: "cs_test_club123",
            message:
              "The payment service did not answer. Your subscription was not changed. Please try again in a moment.",
          },
        },
        { status: 502 },
      ),
    );
    fireEvent.click(await screen.findByRole("button", { name: "Manage subscription" }));
    expect(await screen.findByRole("alert")).toHaveTextContent(
      "The payment service did not answer. Your subscription was not changed.",
    );
  });

  it("shows a refusal that concerns no listed order (no cookie: 403) above the empty list", async () => {
    const message = "We could not find any orders in this browser, so there is no subscription to manage here.";
    const Stub = createRemixStub([
      { id: "routes/orders", path: "/orders", Component: Orders, loader: () => json({ orders: [] }) },
    ]);
    // The page as rendered after the action answered 403.
    render(
      <Stub
        initialEntries={["/orders"]}
        hydrationData={{
          loaderData: { "routes/orders": { orders: [] } },
          actionData: { "routes/orders": { error: { checkout: null, message } } },
        }}
      />,
    );
    expect(await screen.findByRole("alert")).toHaveTextContent(message);
    expect(screen.getByText(/No orders yet\./)).toBeInTheDocument();
  });

  it("while the portal opens, the button says so and cannot be pressed twice", async () => {
    renderOrders([SUBSCRIPTION], () => new Promise(() => {}));
    const button = await screen.findByRole("button", { name: "Manage subscription" });
    fireEvent.click(button);
    const busy = await screen.findByRole("button", { name: "Opening…" });
    expect(busy).toBeDisabled();
  });
});
