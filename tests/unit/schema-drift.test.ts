import { is } from "drizzle-orm";
import { getTableConfig as pgConfig, PgTable } from "drizzle-orm/pg-core";
import { getTableConfig as sqliteConfig, SQLiteTable } from "drizzle-orm/sqlite-core";
import { describe, expect, it } from "vitest";

import * as pg from "../../db/schema/pg";
import * as sqlite from "../../db/schema/sqlite";

/**
 * The two schemas must describe the same tables: same names, columns, types
 * by meaning, not-null, defaults present, primary and unique keys, indexes.
 * A column added to one dialect and not the other fails here at once.
 */

// Types by meaning: what the code reads back, whatever the SQL type is called.
const MEANING: Record<string, string> = {
  // SQLite
  SQLiteText: "text",
  SQLiteInteger: "integer",
  SQLiteBoolean: "boolean",
  // PostgreSQL
  PgText: "text",
  PgInteger: "integer",
  PgSerial: "integer",
  PgBigInt53: "integer",
  PgBoolean: "boolean",
};

type Shape = {
  name: string;
  columns: Record<string, { type: string; notNull: boolean; primary: boolean; unique: boolean; hasDefault: boolean }>;
  primaryKeys: string[][];
  indexes: Record<string, { columns: string[]; unique: boolean }>;
};

const meaning = (columnType: string) => {
  const found = MEANING[columnType];
  if (!found) throw new Error(`no meaning known for column type ${columnType}: add it to MEANING`);
  return found;
};

function shape(config: ReturnType<typeof pgConfig> | ReturnType<typeof sqliteConfig>): Shape {
  const uniqueColumns = new Set<string>();
  for (const column of config.columns) if (column.isUnique) uniqueColumns.add(column.name);
  for (const unique of config.uniqueConstraints) {
    if (unique.columns.length === 1) uniqueColumns.add(unique.columns[0]!.name);
  }
  return {
    name: config.name,
    columns: Object.fromEntries(
      config.columns.map((c) => [
        c.name,
        {
          type: meaning(c.columnType),
          notNull: c.notNull,
          primary: c.primary,
          unique: uniqueColumns.has(c.name),
          hasDefault: c.hasDefault,
        },
      ]),
    ),
    primaryKeys: config.primaryKeys.map((pk) => pk.columns.map((c) => c.name)),
    indexes: Object.fromEntries(
      config.indexes.map((index) => [
        index.config.name,
        {
          columns: index.config.columns.map((c) => (c as { name: string }).name),
          unique: index.config.unique,
        },
      ]),
    ),
  };
}

const pgTables = Object.values(pg).filter((value) => is(value, PgTable));
const sqliteTables = Object.values(sqlite).filter((value) => is(value, SQLiteTable));

describe("the two schemas", () => {
  it("have the same tables, exported under the same names", () => {
    const names = (tables: { _: unknown }[], config: (t: never) => { name: string }) =>
      tables.map((t) => config(t as never).name).sort();
    expect(names(pgTables, pgConfig)).toEqual(names(sqliteTables, sqliteConfig));
    expect(Object.keys(pg).sort()).toEqual(Object.keys(sqlite).sort());
    expect(pgTables.length).toBeGreaterThanOrEqual(7);
  });

  const pgByKey = new Map<string, unknown>(Object.entries(pg));
  for (const [key, table] of Object.entries(sqlite)) {
    it(`agree on ${key}: columns, types, not-null, keys and indexes`, () => {
      const a = shape(sqliteConfig(table as never));
      const b = shape(pgConfig(pgByKey.get(key) as never));
      expect(b).toEqual(a);
    });
  }

  it("notices a difference (the comparison is not blind)", () => {
    const a = shape(sqliteConfig(sqlite.stripeEvents));
    const b = shape(pgConfig(pg.checkoutSessions));
    expect(b).not.toEqual(a);
  });
});
