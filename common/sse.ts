/**
 * Server-Sent Events framing (the wire format of GraphQL over SSE, Yoga's distinct-connections
 * mode): reads a response body and hands over each frame's `event` and joined `data` lines.
 * Used by the gateway's upstream client and the tests' SSE client.
 */

/** Calls `onFrame` for each frame of `body` until it ends; `onFrame` returning false stops reading. */
export async function readSseFrames(
  body: AsyncIterable<Uint8Array>,
  onFrame: (event: string | undefined, data: string) => boolean | void,
): Promise<void> {
  const decoder = new TextDecoder();
  let buf = "";
  for await (const chunk of body) {
    buf += decoder.decode(chunk, { stream: true });
    let idx: number;
    while ((idx = buf.indexOf("\n\n")) >= 0) {
      const frame = buf.slice(0, idx);
      buf = buf.slice(idx + 2);
      const lines = frame.split("\n");
      const event = lines
        .find((l) => l.startsWith("event:"))
        ?.slice(6)
        .trim();
      const data = lines
        .filter((l) => l.startsWith("data:"))
        .map((l) => l.slice(5).trim())
        .join("\n");
      if (onFrame(event, data) === false) return;
    }
  }
}
