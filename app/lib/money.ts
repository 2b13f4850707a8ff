// Stripe's zero-decimal currencies: amounts are whole units, not cents.
// https://docs.stripe.com/currencies#zero-decimal
const ZERO_DECIMAL = new Set([
  "bif",
  "clp",
  "djf",
  "gnf",
  "jpy",
  "kmf",
  "krw",
  "mga",
  "pyg",
  "rwf",
  "ugx",
  "vnd",
  "vuv",
  "xaf",
  "xof",
  "xpf",
]);

export function formatMoney(amount: number, currency: string, locale = "en-US") {
  const code = currency.toLowerCase();
  const value = ZERO_DECIMAL.has(code) ? amount : amount / 100;
  return new Intl.NumberFormat(locale, { style: "currency", currency: code.toUpperCase() }).format(value);
}
