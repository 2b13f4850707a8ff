import { Form, useNavigation } from "@remix-run/react";

export type BuyFormProps = {
  slug: string;
  token: string;
  maxQuantity: number;
  mode: "payment" | "subscription";
  error?: string | null;
  field?: string | null;
  quantity?: string | null;
};

/**
 * A real <form method="post">: it works with JavaScript off. With JavaScript
 * on, Remix submits it and the button shows that it is working and cannot be
 * pressed twice. The hidden token makes a double submit find the same
 * Checkout Session instead of opening a second one.
 */
export function BuyForm({ slug, token, maxQuantity, mode, error, field, quantity }: BuyFormProps) {
  const navigation = useNavigation();
  const busy = navigation.state !== "idle" && navigation.formAction?.startsWith(`/products/${slug}`) === true;
  const errorId = "buy-error";
  return (
    <Form
      method="post"
      action={`/products/${slug}`}
      className="buy-form"
      aria-describedby={error ? errorId : undefined}
    >
      <input type="hidden" name="token" value={token} />
      {maxQuantity > 1 ? (
        <label>
          Quantity
          <input
            type="number"
            name="quantity"
            inputMode="numeric"
            min={1}
            max={maxQuantity}
            step={1}
            required
            defaultValue={quantity ?? "1"}
            aria-invalid={field === "quantity" ? true : undefined}
            aria-describedby={field === "quantity" ? errorId : undefined}
          />
        </label>
      ) : null}
      {error ? (
        <p id={errorId} role="alert" className="form-error">
          {error}
        </p>
      ) : null}
      <button type="submit" disabled={busy} aria-busy={busy || undefined}>
        {busy ? "Taking you to checkout…" : mode === "subscription" ? "Subscribe" : "Buy"}
      </button>
    </Form>
  );
}
