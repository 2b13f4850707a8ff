import { Link } from "@remix-run/react";
import type { ReactNode } from "react";

import type { SuccessView } from "~/lib/order-views";
import { OrderLines } from "./order-lines";
import { OrderTotals } from "./OrderTotals";

export type { SuccessState, SuccessView } from "~/lib/order-views";

/**
 * What the success page says about one of the shopper's own checkouts, one
 * component per stored state. The loader decides the state; this only words it.
 */

export function OrderStatus({ view }: { view: SuccessView }) {
  switch (view.state) {
    case "paid":
      return <Paid view={view} />;
    case "review":
      return <Review view={view} />;
    case "processing":
      return <Processing view={view} />;
    case "waiting_for_bank":
      return <WaitingForBank view={view} />;
    case "failed":
      return <Failed view={view} />;
    case "expired":
      return <Expired view={view} />;
  }
}

function Summary({ order }: { order: SuccessView["order"] }) {
  // A cart's order lists its lines; a single product keeps the short form.
  const several = order.lines && order.lines.length > 1 ? order.lines : null;
  return (
    <>
      {several ? <OrderLines lines={several} caption="What you ordered" /> : null}
      <SummaryList order={order} several={several !== null} />
      {order.totals ? <OrderTotals totals={order.totals} /> : null}
    </>
  );
}

function SummaryList({ order, several }: { order: SuccessView["order"]; several: boolean }) {
  return (
    <dl className="order-summary">
      {several ? null : (
        <>
          <dt>Product</dt>
          <dd>{order.productName}</dd>
          <dt>Quantity</dt>
          <dd>{order.quantity}</dd>
        </>
      )}
      {order.amount && !order.totals ? (
        <>
          <dt>Amount</dt>
          <dd>
            {order.amount}
            {order.mode === "subscription" ? ` per ${order.interval ?? "period"}` : null}
          </dd>
        </>
      ) : null}
      {order.afterPayment ? (
        <>
          <dt>Payment</dt>
          <dd className="after-payment">{order.afterPayment}</dd>
        </>
      ) : null}
      {order.email ? (
        <>
          <dt>Email</dt>
          <dd>{order.email}</dd>
        </>
      ) : null}
    </dl>
  );
}

function Section({ title, children }: { title: string; children: ReactNode }) {
  return (
    <section className="order-status" aria-labelledby="order-status-title">
      <h1 id="order-status-title">{title}</h1>
      {children}
    </section>
  );
}

function Paid({ view }: { view: SuccessView }) {
  const { order } = view;
  return (
    <Section title="Thank you: your payment went through.">
      <Summary order={order} />
      <h2>What happens next</h2>
      {order.mode === "subscription" ? (
        <p>
          Your subscription is active. A receipt is on its way{order.email ? ` to ${order.email}` : ""}. You can manage
          or cancel it any time from <Link to="/orders">Your orders</Link>.
        </p>
      ) : (
        <p>
          A receipt is on its way{order.email ? ` to ${order.email}` : ""}, and we will email you again when your order
          is on its way. You can find it any time under <Link to="/orders">Your orders</Link>.
        </p>
      )}
    </Section>
  );
}

function Review({ view }: { view: SuccessView }) {
  const { order } = view;
  return (
    <Section title="We received your payment.">
      <Summary order={order} />
      <p>
        Before we send anything we need to check this order by hand. We will email you
        {order.email ? ` at ${order.email}` : ""} when it is done.
      </p>
    </Section>
  );
}

function Processing({ view }: { view: SuccessView }) {
  return (
    <Section title="Your payment is being processed.">
      <Summary order={view.order} />
      <p role="status">This page checks again by itself every few seconds. Please do not pay again.</p>
      <p>
        If you left the payment page without paying, nothing was charged and you can{" "}
        {view.order.fromCart ? (
          <Link to="/cart">go back to your cart</Link>
        ) : (
          <Link to={`/products/${view.order.productSlug}`}>go back to {view.order.productName}</Link>
        )}
        .
      </p>
    </Section>
  );
}

function WaitingForBank({ view }: { view: SuccessView }) {
  return (
    <Section title="We are waiting for your bank.">
      <Summary order={view.order} />
      <p role="status">
        We will email you when the payment clears
        {view.order.email ? ` (to ${view.order.email})` : ""}. This can take a few days; you can close this page.
      </p>
    </Section>
  );
}

function Failed({ view }: { view: SuccessView }) {
  return (
    <Section title="The payment failed.">
      <p>You were not charged.</p>
      <p>
        {view.order.fromCart ? (
          <Link to="/cart">Try again: your cart</Link>
        ) : (
          <Link to={`/products/${view.order.productSlug}`}>Try again: {view.order.productName}</Link>
        )}
      </p>
    </Section>
  );
}

function Expired({ view }: { view: SuccessView }) {
  return (
    <Section title="This checkout expired.">
      <p>You were not charged.</p>
      <p>
        {view.order.fromCart ? (
          <Link to="/cart">Back to your cart</Link>
        ) : (
          <Link to={`/products/${view.order.productSlug}`}>Back to {view.order.productName}</Link>
        )}
      </p>
    </Section>
  );
}
