/** The indexer's status, polled: shown in the header on every page and in full on the overview. */
import { useEffect, useState } from "preact/hooks";
import { gql } from "../gql";

export interface IndexerStatus {
  chainId: number;
  registry: string;
  deployBlock: number;
  headBlock: number;
  indexedBlock: number;
  indexedBlockHash: string;
  lagBlocks: number;
  digest: string;
  caughtUp: boolean;
  ready: boolean;
  maxLagBlocks: number;
  reorgs: number;
  rpcErrors: number;
  events: number | null;
  fatalError: string | null;
  fatalErrorName: string | null;
}

const QUERY = `{ indexerStatus { chainId registry deployBlock headBlock indexedBlock indexedBlockHash lagBlocks
  digest caughtUp ready maxLagBlocks reorgs rpcErrors events fatalError fatalErrorName } }`;

export const POLL_MS = 3000;

/** The latest status and the latest failure to read it (both kept: an old status is still shown). */
export function useIndexerStatus(): { status?: IndexerStatus; error?: unknown } {
  const [state, setState] = useState<{ status?: IndexerStatus; error?: unknown }>({});
  useEffect(() => {
    let stopped = false;
    const poll = async () => {
      try {
        const { indexerStatus } = await gql<{ indexerStatus: IndexerStatus }>(QUERY);
        if (!stopped) setState({ status: indexerStatus });
      } catch (error) {
        if (!stopped) setState((s) => ({ status: s.status, error }));
      }
    };
    void poll();
    const t = setInterval(() => void poll(), POLL_MS);
    return () => {
      stopped = true;
      clearInterval(t);
    };
  }, []);
  return state;
}

/** Why the index should not be trusted right now, or undefined when it is ready. */
export function staleness(s: IndexerStatus): string | undefined {
  if (s.fatalError) return `Indexing stopped: ${s.fatalErrorName ?? "error"}: ${s.fatalError}. Answers are stale.`;
  if (!s.caughtUp) return `The index is still catching up (block ${s.indexedBlock} of ${s.headBlock}).`;
  if (!s.ready)
    return `The index lags the chain by ${s.lagBlocks} blocks (allowed ${s.maxLagBlocks}): verdicts fail closed (STALE_INDEX).`;
  return undefined;
}
