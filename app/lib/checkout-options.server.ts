import type Stripe from "stripe";

import type { CheckoutOptions } from "./config.server";

/** The text beside Checkout's terms checkbox (Stripe renders the Markdown link). */
export function termsMessage(termsUrl: string) {
  return `I agree to the [terms of service](${termsUrl}).`;
}

/**
 * Checkout's own options as SessionCreateParams, from the configuration and
 * what the session holds; the same for Buy now and the cart. Pure: no I/O.
 * Stripe's rules (stripe 23.1 SessionCreateParams,
 * https://docs.stripe.com/payments/checkout/shipping and /tax/checkout):
 * shipping address and shipping_options only in payment mode and only when a
 * line is shippable; an existing customer with automatic tax must let Checkout
 * save the address it collects (customer_update), or Stripe refuses the session.
 */
export function checkoutOptionParams(
  options: CheckoutOptions,
  session: { mode: "payment" | "subscription"; shippable: boolean; customer: boolean },
): Partial<Stripe.Checkout.SessionCreateParams> {
  const params: Partial<Stripe.Checkout.SessionCreateParams> = {};
  if (options.promotionCodes) params.allow_promotion_codes = true;
  const shipping = session.mode === "payment" && session.shippable && options.shippingCountries.length > 0;
  if (shipping) {
    params.shipping_address_collection = {
      allowed_countries:
        options.shippingCountries as Stripe.Checkout.SessionCreateParams.ShippingAddressCollection.AllowedCountry[],
    };
    if (options.shippingRates.length > 0) {
      params.shipping_options = options.shippingRates.map((shipping_rate) => ({ shipping_rate }));
    }
  }
  if (options.automaticTax) {
    params.automatic_tax = { enabled: true };
    if (session.customer)
      params.customer_update = shipping ? { address: "auto", shipping: "auto" } : { address: "auto" };
  }
  if (options.phone) params.phone_number_collection = { enabled: true };
  if (options.termsUrl) {
    params.consent_collection = { terms_of_service: "required" };
    params.custom_text = { terms_of_service_acceptance: { message: termsMessage(options.termsUrl) } };
  }
  return params;
}
