/**
 * Indexer errors: one base with `cause`, split into retryable (the sync loop backs off and tries
 * again; nothing was applied) and fatal (indexing stops loudly, the store keeps the last
 * consistent state). Callers match on `name` or `instanceof`, never on the message.
 */

export class IndexerError extends Error {
  override name = "IndexerError";
  readonly retryable: boolean = false;
}

export class RetryableIndexerError extends IndexerError {
  override name = "RetryableIndexerError";
  override readonly retryable = true;
}

export class FatalIndexerError extends IndexerError {
  override name = "FatalIndexerError";
}

/** The node, the deployment file and the store disagree about which chain/registry this is. */
export class ChainMismatchError extends FatalIndexerError {
  override name = "ChainMismatchError";
}

/** The chain replaced more blocks than the reorg window keeps undo data for. */
export class ReorgTooDeepError extends FatalIndexerError {
  override name = "ReorgTooDeepError";
  constructor(
    readonly cursorBlock: number,
    readonly window: number,
    options?: { cause?: unknown },
  ) {
    super(
      `reorg deeper than the window: no block between ${Math.max(0, cursorBlock - window)} and ${cursorBlock} matches the chain any more (window ${window} blocks); rebuild the index`,
      options,
    );
  }
}

/**
 * A device event's `head` does not follow from the device's previous head and the event's own
 * fields: the node dropped, reordered or altered an event. Nothing of the range is applied.
 */
export class HistoryHeadMismatchError extends FatalIndexerError {
  override name = "HistoryHeadMismatchError";
  constructor(
    readonly deviceId: string,
    readonly blockNumber: number,
    readonly eventName: string,
    readonly expected: string,
    readonly reported: string,
  ) {
    super(
      `history head mismatch for device ${deviceId} at block ${blockNumber} (${eventName}): recomputed ${expected}, the node reported ${reported}; the RPC node is serving altered or incomplete events`,
    );
  }
}

/** The node answered something that cannot be true (a log outside the asked range, a missing block). */
export class InconsistentNodeError extends RetryableIndexerError {
  override name = "InconsistentNodeError";
}

/** The store was written by an incompatible version of the indexer. */
export class StoreSchemaError extends FatalIndexerError {
  override name = "StoreSchemaError";
}

/** Another process (an indexer, `openStore`) holds the LevelDB directory. */
export class StoreLockedError extends FatalIndexerError {
  override name = "StoreLockedError";
}

/** A pagination cursor that this store did not hand out. */
export class InvalidCursorError extends IndexerError {
  override name = "InvalidCursorError";
}

export { isRetryable } from "../common/retry";
