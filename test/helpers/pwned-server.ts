/** A local stand-in for the Pwned Passwords range API (the real one is not reachable from CI). */
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";

export const sha1Hex = (text: string): string => createHash("sha1").update(text).digest("hex").toUpperCase();

export interface PwnedServer {
  /** The range endpoint, ending in "/range/". */
  url: string;
  /** Every request received, in order. */
  requests: IncomingMessage[];
  /** "ok" answers like the real API; the others simulate an outage. */
  mode: "ok" | "500" | "garbage" | "hang";
  close(): Promise<void>;
}

/** Serves `breached` (password → count) the way the range API does, with padding lines. */
export async function startPwnedServer(breached: Record<string, number>): Promise<PwnedServer> {
  const state: PwnedServer = { url: "", requests: [], mode: "ok", close: async () => {} };
  const server = createServer((req, res) => {
    state.requests.push(req);
    if (state.mode === "hang") return; // never answers: the client's timeout must end it
    if (state.mode === "500") return void res.writeHead(500).end("oops");
    if (state.mode === "garbage") return void res.writeHead(200).end("<html>captive portal</html>");
    const prefix = (req.url ?? "").split("/").pop() ?? "";
    const lines = [`${"0".repeat(35)}:0`]; // a padding line, as Add-Padding returns
    for (const [password, count] of Object.entries(breached)) {
      const digest = sha1Hex(password);
      if (digest.startsWith(prefix)) lines.push(`${digest.slice(5)}:${count}`);
    }
    lines.push(`${"F".repeat(35)}:12`);
    res.writeHead(200, { "content-type": "text/plain" }).end(lines.join("\r\n"));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/range/`;
  state.close = async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return state;
}
