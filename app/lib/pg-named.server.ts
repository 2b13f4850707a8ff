import { createHash } from "node:crypto";

import { type Column, is, Param, Placeholder, type SQL } from "drizzle-orm";
import { PgDialect } from "drizzle-orm/pg-core";

/**
 * A hot PostgreSQL statement built by Drizzle once and run as a node-postgres
 * named (server-side prepared) statement on the caller's own client: no query
 * is built per call, and PostgreSQL parses it once per connection. Drizzle's
 * own prepared queries are bound to the session that made them, and a state
 * machine transaction is a new session each time; so the text and its
 * parameters are taken from Drizzle (`toSQL()` with placeholders) and bound
 * here the way Drizzle binds them: a placeholder inside a column's value goes
 * through that column's encoder, a bare one as given, a constant as Drizzle
 * encoded it. Rows come back as Drizzle returns them: each field decoded by
 * its column. docs/decisions/182-pg-enqueue-named-statement.md,
 * 183-pg-store-named-statements.md
 */

type Values = Record<string, unknown>;
type Bind = (values: Values) => unknown;
type Raw = Record<string, unknown>;

export type Named<Row = Raw> = {
  /** Derived from the text: one text, one name, on every connection and instance. */
  name: string;
  text: string;
  bind: Bind[];
  decode: (raw: Raw) => Row;
};

type Query = { sql: string; params: unknown[] };
type Buildable = { toSQL(): Query } | SQL;

const dialect = new PgDialect();

function placeholderValue(values: Values, name: string) {
  if (!(name in values)) throw new Error(`named statement: no value for placeholder "${name}"`);
  return values[name];
}

function binder(param: unknown): Bind {
  if (is(param, Placeholder)) {
    const { name } = param;
    return (values) => placeholderValue(values, name);
  }
  if (is(param, Param) && is(param.value, Placeholder)) {
    const { name } = param.value;
    const { encoder } = param;
    return (values) => {
      const value = placeholderValue(values, name);
      return value === null || value === undefined ? null : encoder.mapToDriverValue(value);
    };
  }
  // A constant of the query (a LIMIT, an IN list's member): already encoded by Drizzle.
  return () => param;
}

/** Decodes a row of these fields (a table's columns, or a selection) as Drizzle would. */
export function decoder<Row>(fields: Record<string, Column>): (raw: Raw) => Row {
  const entries = Object.entries(fields).map(([key, column]) => [key, column.name, column] as const);
  return (raw) => {
    const row: Raw = {};
    for (const [key, name, column] of entries) {
      const value = raw[name];
      row[key] = value === null || value === undefined ? null : column.mapFromDriverValue(value);
    }
    return row as Row;
  };
}

export function named<Row = Raw>(prefix: string, query: Buildable, decode?: (raw: Raw) => Row): Named<Row> {
  const { sql: text, params } = "toSQL" in query ? query.toSQL() : dialect.sqlToQuery(query);
  const hash = createHash("sha1").update(text).digest("hex").slice(0, 16);
  return {
    name: `shop_${prefix}_${hash}`,
    text,
    bind: params.map(binder),
    decode: decode ?? ((raw) => raw as Row),
  };
}

type Client = {
  query(config: { name: string; text: string; values: unknown[] }): Promise<{ rows: Raw[]; rowCount: number | null }>;
  /** A PoolClient's connection; the Pool has none. */
  connection?: { stream?: { cork?(): void; uncork?(): void } };
};

/**
 * The client of a Drizzle node-postgres database or transaction: the
 * transaction's own PoolClient, or the Pool. Drizzle's typings keep `session`
 * internal; it is a field of every builder and transaction of the
 * drizzle-orm pinned in package.json.
 */
const clientOf = (db: object) => (db as { session: { client: Client } }).session.client;

export async function runNamed<Row>(db: object, statement: Named<Row>, values: Values = {}) {
  const { name, text, bind, decode } = statement;
  const result = await clientOf(db).query({ name, text, values: bind.map((b) => b(values)) });
  return { rows: result.rows.map(decode), rowCount: result.rowCount ?? 0 };
}

/**
 * Runs `send`, which sends statements on `db`'s own client without waiting
 * (the pool pipelines), with that client's socket corked: what it sends goes
 * out in one write instead of one write(2) per statement, and PostgreSQL
 * reads it at once. node-postgres corks and uncorks the socket around each
 * statement; a cork held outside those only sends when it is released.
 * On the Pool (no client of its own) it only runs `send`.
 */
export function sentTogether<T>(db: object, send: () => T): T {
  const stream = clientOf(db).connection?.stream;
  stream?.cork?.();
  try {
    return send();
  } finally {
    stream?.uncork?.();
  }
}
