import { json, type ActionFunction } from "@remix-run/node";
import { createRemixStub } from "@remix-run/testing";
import { fireEvent, render, screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";

import ProductPage, { ErrorBoundary } from "~/routes/products.$slug";

/** The product page and its Buy form as a shopper reads and uses them. */

type Product = {
  slug: string;
  name: string;
  description: string;
  mode: "payment" | "subscription";
  maxQuantity: number;
  price: string;
  interval: string | null;
};

const DRIPPER: Product = {
  slug: "ceramic-pour-over",
  name: "Ceramic Pour-Over Dripper",
  description: "A hand-glazed stoneware dripper.",
  mode: "payment",
  maxQuantity: 5,
  price: "$32.00",
  interval: null,
};
const GIFT_CARD: Product = {
  ...DRIPPER,
  slug: "gift-card",
  name: "Digital Gift Card",
  maxQuantity: 1,
  price: "£25.00",
};
const CLUB: Product = {
  ...DRIPPER,
  slug: "coffee-club",
  name: "Coffee Club Monthly",
  mode: "subscription",
  maxQuantity: 1,
  interval: "month",
};

const TOKEN = "tok_abcdefghijklmnopqrstuv";

function renderProduct(
  product: Product,
  { canceled = false, action }: { canceled?: boolean; action?: ActionFunction } = {},
) {
  const Stub = createRemixStub([
    {
      id: "routes/products.$slug",
      path: "/products/:slug",
      Component: ProductPage,
      ErrorBoundary,
      loader: () => json({ product, token: TOKEN, canceled }),
      action,
    },
  ]);
  const url = `/products/${product.slug}${canceled ? "?canceled=1" : ""}`;
  return render(<Stub initialEntries={[url]} />);
}

describe("the Buy form", () => {
  it("is a real form: method post, action /products/<slug>, the one-time token, a quantity field up to the maximum", async () => {
    renderProduct(DRIPPER);
    const button = await screen.findByRole("button", { name: "Buy" });
    const form = button.closest("form")!;
    expect(form).toHaveAttribute("method", "post");
    expect(form).toHaveAttribute("action", "/products/ceramic-pour-over");
    const token = form.querySelector('input[name="token"]');
    expect(token).toHaveAttribute("type", "hidden");
    expect(token).toHaveValue(TOKEN);
    const quantity = screen.getByRole("spinbutton", { name: "Quantity" });
    expect(quantity).toHaveAttribute("name", "quantity");
    expect(quantity).toHaveAttribute("min", "1");
    expect(quantity).toHaveAttribute("max", "5");
    expect(quantity).toHaveValue(1);
    // Nothing about price or amount travels in the form.
    expect([...form.querySelectorAll("input")].map((i) => i.name).sort()).toEqual(["quantity", "token"]);
  });

  it("has no quantity field for a product sold one at a time", async () => {
    renderProduct(GIFT_CARD);
    const form = (await screen.findByRole("button", { name: "Buy" })).closest("form")!;
    expect(screen.queryByRole("spinbutton")).toBeNull();
    expect([...form.querySelectorAll("input")].map((i) => i.name)).toEqual(["token"]);
  });

  it("says Subscribe for a subscription, with its interval", async () => {
    renderProduct(CLUB);
    expect(await screen.findByRole("button", { name: "Subscribe" })).toBeInTheDocument();
    expect(screen.getByText("$32.00 / month")).toBeInTheDocument();
  });

  it("after a 400, shows the message and keeps what the shopper typed", async () => {
    renderProduct(DRIPPER, {
      action: () =>
        json({ error: "This form has expired. Please try again.", field: "token", quantity: "2" }, { status: 400 }),
    });
    fireEvent.change(await screen.findByRole("spinbutton", { name: "Quantity" }), { target: { value: "2" } });
    fireEvent.click(screen.getByRole("button", { name: "Buy" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("This form has expired. Please try again.");
    const quantity = screen.getByRole("spinbutton", { name: "Quantity" });
    expect(quantity).toHaveValue(2);
    expect(quantity).not.toHaveAttribute("aria-invalid");
    expect(screen.getByRole("button", { name: "Buy" })).toBeEnabled();
  });

  it("without JavaScript, the page the server renders after a 400 carries the message and the typed quantity", async () => {
    const Stub = createRemixStub([{ id: "routes/products.$slug", path: "/products/:slug", Component: ProductPage }]);
    render(
      <Stub
        initialEntries={["/products/ceramic-pour-over"]}
        hydrationData={{
          loaderData: { "routes/products.$slug": { product: DRIPPER, token: TOKEN, canceled: false } },
          actionData: {
            "routes/products.$slug": {
              error: "The quantity must be a whole number.",
              field: "quantity",
              quantity: "2.5",
            },
          },
        }}
      />,
    );
    expect(await screen.findByRole("alert")).toHaveTextContent("The quantity must be a whole number.");
    const quantity = screen.getByRole("spinbutton", { name: "Quantity" });
    expect(quantity).toHaveAttribute("aria-invalid", "true");
    expect(quantity).toHaveValue(2.5);
  });

  it("with JavaScript, while submitting: the button is disabled and says it is taking you to checkout", async () => {
    renderProduct(DRIPPER, { action: () => new Promise(() => {}) });
    fireEvent.click(await screen.findByRole("button", { name: "Buy" }));
    const busy = await screen.findByRole("button", { name: "Taking you to checkout…" });
    expect(busy).toBeDisabled();
  });
});

describe("returning from a canceled checkout", () => {
  it("says that nothing was charged and offers the Buy form again", async () => {
    renderProduct(DRIPPER, { canceled: true });
    expect(await screen.findByRole("status")).toHaveTextContent(
      "Checkout canceled. Nothing was charged. You can try again below whenever you are ready.",
    );
    expect(screen.getByRole("button", { name: "Buy" })).toBeEnabled();
  });

  it("says nothing of the kind on a plain visit", async () => {
    renderProduct(DRIPPER);
    await screen.findByRole("button", { name: "Buy" });
    expect(screen.queryByText(/Checkout canceled/)).toBeNull();
  });
});

describe("an unknown product", () => {
  it("answers with a page that says so", async () => {
    const Stub = createRemixStub([
      {
        id: "routes/products.$slug",
        path: "/products/:slug",
        Component: ProductPage,
        ErrorBoundary,
        loader: () => {
          throw new Response("No product by that name is for sale.", { status: 404 });
        },
      },
    ]);
    render(<Stub initialEntries={["/products/nope"]} />);
    expect(await screen.findByRole("heading", { name: "We could not find that product." })).toBeInTheDocument();
  });
});
