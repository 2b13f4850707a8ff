import { json, type ActionFunction } from "@remix-run/node";
import { createRemixStub } from "@remix-run/testing";
import { fireEvent, render, screen, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";

import CartPage, { ErrorBoundary } from "~/routes/cart";

/** The cart page as a shopper reads and uses it: its lines, subtotal, notices and forms. */

const TOKEN = "cart_abcdefghijklmnopqrs";

const CART = {
  version: 7,
  currency: "USD",
  subtotal: "$118.00",
  count: 5,
  lines: [
    {
      id: 11,
      slug: "ceramic-pour-over",
      name: "Ceramic Pour-Over Dripper",
      quantity: 2,
      maxQuantity: 5,
      unitPrice: "$32.00",
      lineTotal: "$64.00",
    },
    {
      id: 12,
      slug: "stoneware-mug",
      name: "Stoneware Mug",
      quantity: 3,
      maxQuantity: 8,
      unitPrice: "$18.00",
      lineTotal: "$54.00",
    },
  ],
};

function renderCart(
  cart: typeof CART | (Omit<typeof CART, "lines"> & { lines: never[] }) = CART,
  {
    notices = [] as string[],
    canceled = false,
    action,
  }: { notices?: string[]; canceled?: boolean; action?: ActionFunction } = {},
) {
  const Stub = createRemixStub([
    {
      id: "routes/cart",
      path: "/cart",
      Component: CartPage,
      ErrorBoundary,
      loader: () => json({ cart, token: TOKEN, notices, canceled }),
      action,
    },
  ]);
  return render(<Stub initialEntries={[canceled ? "/cart?canceled=1" : "/cart"]} />);
}

const fieldsOf = (form: HTMLFormElement) =>
  Object.fromEntries([...form.querySelectorAll("input")].map((input) => [input.name, input.value]));

describe("the cart page", () => {
  it("lists each line with its unit price, quantity and line total, and the subtotal in the cart's currency", async () => {
    renderCart();
    const rows = await screen.findAllByRole("row");
    expect(rows.map((row) => row.textContent)).toEqual([
      "ProductUnit priceQuantityLine total",
      "Ceramic Pour-Over Dripper$32.00Quantity of Ceramic Pour-Over DripperUpdate$64.00Remove",
      "Stoneware Mug$18.00Quantity of Stoneware MugUpdate$54.00Remove",
      "Subtotal (USD)$118.00",
    ]);
    expect(screen.getByText("One checkout charges one currency: this cart is in USD.")).toBeInTheDocument();
  });

  it("is made of real forms posting to /cart, each with its intent and the cart token; checkout carries the version", async () => {
    renderCart();
    const quantity = await screen.findByRole("spinbutton", { name: "Quantity of Stoneware Mug" });
    expect(quantity).toHaveAttribute("max", "8");
    expect(quantity).toHaveValue(3);
    const setForm = quantity.closest("form")!;
    expect(setForm).toHaveAttribute("method", "post");
    expect(setForm).toHaveAttribute("action", "/cart");
    expect(fieldsOf(setForm)).toEqual({ token: TOKEN, intent: "set", line: "12", quantity: "3" });
    expect(fieldsOf(screen.getByRole("button", { name: "Remove Stoneware Mug" }).closest("form")!)).toEqual({
      token: TOKEN,
      intent: "remove",
      line: "12",
    });
    expect(fieldsOf(screen.getByRole("button", { name: "Empty cart" }).closest("form")!)).toEqual({
      token: TOKEN,
      intent: "empty",
    });
    // No price, amount or product list travels in the checkout form: the server reads the cart.
    expect(fieldsOf(screen.getByRole("button", { name: "Check out" }).closest("form")!)).toEqual({
      token: TOKEN,
      intent: "checkout",
      version: "7",
    });
  });

  it("says what the catalog changed, and that a canceled checkout charged nothing", async () => {
    renderCart(CART, {
      canceled: true,
      notices: ["Beeswax Candle is no longer for sale, so it was removed from your cart."],
    });
    const statuses = await screen.findAllByRole("status");
    expect(statuses.map((s) => s.textContent)).toEqual([
      "Checkout canceled. Nothing was charged. Your cart is as you left it.",
      "Beeswax Candle is no longer for sale, so it was removed from your cart.",
    ]);
  });

  it("an empty cart says so and offers no checkout", async () => {
    renderCart({ ...CART, subtotal: null, currency: null, count: 0, lines: [] } as never);
    expect(await screen.findByText(/Your cart is empty/)).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Check out" })).toBeNull();
  });

  it("after a refused change, shows the message by the line", async () => {
    renderCart(CART, {
      action: () =>
        json(
          { error: "You can buy at most 8 of Stoneware Mug at once.", field: "quantity", line: "12", notices: [] },
          { status: 400 },
        ),
    });
    const quantity = await screen.findByRole("spinbutton", { name: "Quantity of Stoneware Mug" });
    // The browser's own checks pass; the server refuses (here: the stubbed action).
    fireEvent.change(quantity, { target: { value: "4" } });
    fireEvent.click(within(quantity.closest("form")!).getByRole("button", { name: "Update" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("You can buy at most 8 of Stoneware Mug at once.");
    expect(screen.getByRole("spinbutton", { name: "Quantity of Stoneware Mug" })).toHaveAttribute(
      "aria-invalid",
      "true",
    );
  });
});
