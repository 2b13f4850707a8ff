export function SimulatedPaymentsBanner({ emulated }: { emulated: boolean }) {
  return (
    <div role="status" className="simulated-banner">
      Payments are simulated:{" "}
      {emulated ? "this shop runs against the local Stripe emulator" : "Stripe API calls go to a test server"}. No real
      money moves.
    </div>
  );
}
