import type { OrderLineView } from "~/lib/order-views";

export type { OrderLineView } from "~/lib/order-views";

/** An order's lines: product, quantity, unit price, line total (the success and orders pages). */
export function OrderLines({ lines, caption }: { lines: OrderLineView[]; caption?: string }) {
  return (
    <table className="order-lines">
      {caption ? <caption>{caption}</caption> : null}
      <thead>
        <tr>
          <th scope="col">Product</th>
          <th scope="col">Quantity</th>
          <th scope="col">Unit price</th>
          <th scope="col">Line total</th>
        </tr>
      </thead>
      <tbody>
        {lines.map((line) => (
          <tr key={line.name}>
            <td data-label="Product">{line.name}</td>
            <td data-label="Quantity">{line.quantity}</td>
            <td data-label="Unit price">{line.unitPrice}</td>
            <td data-label="Line total">{line.lineTotal}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
