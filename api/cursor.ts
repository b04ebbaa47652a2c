/**
 * Relay cursors for every edge. The store returns the cursor of a page's last item only, so an
 * API cursor is (store cursor of the page start, items to skip after it): the last edge gets
 * (store end cursor, 0), an earlier edge (page start, its offset + 1). Opaque base64url to clients.
 */
import type { Page } from "../indexer/types";
import { badInput } from "./errors";

const MAX_SKIP = 1000;

interface Decoded {
  storeAfter: string | null;
  skip: number;
}

export function encodeCursor(storeAfter: string | null, skip: number): string {
  return Buffer.from(JSON.stringify([storeAfter, skip])).toString("base64url");
}

export function decodeCursor(field: string, cursor: string | null | undefined): Decoded {
  if (cursor == null) return { storeAfter: null, skip: 0 };
  if (cursor.length > 1024) throw badInput(field, "is not a cursor this API issued");
  try {
    const v: unknown = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
    if (
      Array.isArray(v) &&
      v.length === 2 &&
      (v[0] === null || typeof v[0] === "string") &&
      Number.isInteger(v[1]) &&
      v[1] >= 0 &&
      v[1] <= MAX_SKIP
    ) {
      return { storeAfter: v[0] as string | null, skip: v[1] as number };
    }
  } catch {
    // fall through
  }
  throw badInput(field, "is not a cursor this API issued");
}

export interface Connection<T> {
  edges: { cursor: string; node: T }[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}

/** Reads one page through the store with an API cursor and builds the Relay connection. */
export async function readConnection<T>(
  field: string,
  first: number,
  after: string | null | undefined,
  read: (first: number, storeAfter: string | null) => Promise<Page<T>>,
): Promise<Connection<T>> {
  const { storeAfter, skip } = decodeCursor(field, after);
  let page: Page<T>;
  try {
    page = await read(first + skip, storeAfter);
  } catch (err) {
    // a cursor that decodes but that the store refuses (matched by name, never by message)
    if (storeAfter !== null && err instanceof Error && err.name === "InvalidCursorError")
      throw badInput(field, "is not a cursor this API issued");
    throw err;
  }
  const items = page.items.slice(skip);
  const last = items.length - 1;
  return {
    edges: items.map((node, i) => ({
      node,
      cursor:
        i === last && page.endCursor !== null
          ? encodeCursor(page.endCursor, 0)
          : encodeCursor(storeAfter, skip + i + 1),
    })),
    pageInfo: {
      hasNextPage: page.hasNextPage,
      endCursor: items.length ? encodeCursor(page.endCursor, 0) : (after ?? null),
    },
  };
}
