import { Form, useNavigation } from "@remix-run/react";

/**
 * "Add to cart" beside Buy: a real form posting to /cart (intent=add), so it
 * works with JavaScript off; with JavaScript Remix submits it and goes to the
 * cart without a full reload, and the header's count follows.
 */
export function AddToCartForm({ slug, token, maxQuantity }: { slug: string; token: string; maxQuantity: number }) {
  const navigation = useNavigation();
  const busy = navigation.state !== "idle" && navigation.formData?.get("intent") === "add";
  return (
    <Form method="post" action="/cart" className="add-to-cart-form">
      <input type="hidden" name="token" value={token} />
      <input type="hidden" name="intent" value="add" />
      <input type="hidden" name="product" value={slug} />
      {maxQuantity > 1 ? (
        <label>
          How many for the cart
          <input
            type="number"
            name="quantity"
            inputMode="numeric"
            min={1}
            max={maxQuantity}
            step={1}
            required
            defaultValue="1"
          />
        </label>
      ) : null}
      <button type="submit" className="secondary" disabled={busy} aria-busy={busy || undefined}>
        {busy ? "Adding…" : "Add to cart"}
      </button>
    </Form>
  );
}
