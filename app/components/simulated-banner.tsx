import { Link } from "@remix-run/react";

export function SimulatedPaymentsBanner({ emulated, mailPage = false }: { emulated: boolean; mailPage?: boolean }) {
  return (
    <div role="status" className="simulated-banner">
      Payments are simulated:{" "}
      {emulated ? "this shop runs against the local Stripe emulator" : "Stripe API calls go to a test server"}. No real
      money moves.
      {mailPage ? (
        <>
          {" "}
          <Link to="/dev/mail">Mail the shop sent</Link>
        </>
      ) : null}
    </div>
  );
}
