/**
 * Relay connections over the store's pages. An edge's cursor IS the store's cursor of that item
 * (its sort key, opaque base64url; indexer/store/reader.ts), so every edge cursor continues right
 * after its edge: one encoding, no skip count. The store validates a cursor; one it refuses is a
 * BAD_USER_INPUT naming the field.
 */
import type { Page } from "../indexer/types";
import { badInput } from "./errors";

/** Longer than any cursor the store issues (~90 characters): refused before decoding. */
const MAX_CURSOR_LENGTH = 256;

export interface Connection<T> {
  edges: { cursor: string; node: T }[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
  /** Absent where the store cannot count without a scan. */
  totalCount?: number;
}

const notOurs = (field: string) => badInput(field, "is not a cursor this API issued");

/** Reads one page through the store and builds the Relay connection. */
export async function readConnection<T>(
  field: string,
  first: number,
  after: string | null | undefined,
  read: (first: number, after: string | null) => Promise<Page<T> | Omit<Page<T>, "totalCount">>,
): Promise<Connection<T>> {
  if (after != null && (after === "" || after.length > MAX_CURSOR_LENGTH)) throw notOurs(field);
  let page: Page<T> | Omit<Page<T>, "totalCount">;
  try {
    page = await read(first, after ?? null);
  } catch (err) {
    // matched by name, never by message
    if (after != null && err instanceof Error && err.name === "InvalidCursorError") throw notOurs(field);
    throw err;
  }
  return {
    edges: page.items.map((node, i) => ({ node, cursor: page.cursors[i]! })),
    pageInfo: { hasNextPage: page.hasNextPage, endCursor: page.endCursor ?? after ?? null },
    ...("totalCount" in page && { totalCount: page.totalCount }),
  };
}
