/** A small GraphQL client for verify, history and audit: one POST, errors as one line. */
import { config } from "./context";
import { CliError } from "./io";
import type { Flags } from "../common/config";

/**
 * A query the CLI sends, typed with the shape of its `data`. Every query is declared with
 * {@link gql}: test/cli/queries.test.ts finds each one, validates it against api/schema.graphql
 * and holds the selection against the type argument, field by field.
 */
export interface Query<T> {
  text: string;
  /** Type only: the `data` the query answers. */
  readonly data?: T;
}

export const gql = <T>(text: string): Query<T> => ({ text });

/** The `data` type of a query. */
export type DataOf<Q> = Q extends Query<infer T> ? T : never;

export interface GraphqlClient {
  url: string;
  request<T>(query: Query<T>, variables?: Record<string, unknown>): Promise<T>;
}

/** `http://host:4000` and `http://host:4000/` mean `http://host:4000/graphql`. */
export function graphqlUrl(apiUrl: string): string {
  const u = new URL(apiUrl);
  if (u.pathname === "/" || u.pathname === "") u.pathname = "/graphql";
  return u.toString();
}

export function apiClient(flags: Flags, env: NodeJS.ProcessEnv): GraphqlClient {
  const { client } = config(["client"], flags, env);
  const url = graphqlUrl(client.apiUrl);
  const headers: Record<string, string> = { "content-type": "application/json", accept: "application/json" };
  if (client.apiKey) headers.authorization = `Bearer ${client.apiKey}`;
  return {
    url,
    async request<T>(query: Query<T>, variables: Record<string, unknown> = {}): Promise<T> {
      let res: Response;
      try {
        res = await fetch(url, {
          method: "POST",
          headers,
          body: JSON.stringify({ query: query.text, variables }),
          signal: AbortSignal.timeout(60_000),
        });
      } catch (err) {
        const cause = err instanceof Error && err.cause instanceof Error ? err.cause : err;
        const code = (cause as { code?: string }).code;
        const why =
          code === "ECONNREFUSED"
            ? "connection refused (is `dtl serve` or `npm start` running?)"
            : cause instanceof Error
              ? cause.message
              : String(cause);
        throw new CliError(`cannot reach the API at ${url}: ${why}`, undefined, { cause: err });
      }
      const text = await res.text();
      let body: { data?: T; errors?: { message: string; extensions?: { code?: string } }[] };
      try {
        body = JSON.parse(text) as typeof body;
      } catch {
        throw new CliError(`the API at ${url} answered HTTP ${res.status} with a body that is not JSON`);
      }
      if (res.status === 401 || res.status === 403)
        throw new CliError(`the API at ${url} refused the request (HTTP ${res.status}): set DTL_API_KEY`);
      const e = body.errors?.[0];
      if (e) throw new CliError(`API error${e.extensions?.code ? ` ${e.extensions.code}` : ""}: ${e.message}`);
      if (!body.data) throw new CliError(`the API at ${url} answered HTTP ${res.status} without data`);
      return body.data;
    },
  };
}
