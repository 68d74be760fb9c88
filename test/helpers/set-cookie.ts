/** The one Set-Cookie parser of the test suites (not a test file itself). */
import type { Response } from "supertest";

export interface ParsedCookie {
  name: string;
  value: string;
  raw: string;
  /** Lower-cased attribute names; `true` for flags. */
  attrs: Record<string, string | true>;
}

/** The response's Set-Cookie lines (none, one or many). */
export function setCookieLines(res: Response): string[] {
  const header = res.headers["set-cookie"] as unknown;
  if (Array.isArray(header)) return header as string[];
  return typeof header === "string" ? [header] : [];
}

export function parseSetCookie(line: string): ParsedCookie {
  const [pair = "", ...rest] = line.split(";");
  const eq = pair.indexOf("=");
  const attrs: Record<string, string | true> = {};
  for (const part of rest) {
    const i = part.indexOf("=");
    if (i === -1) attrs[part.trim().toLowerCase()] = true;
    else attrs[part.slice(0, i).trim().toLowerCase()] = part.slice(i + 1).trim();
  }
  return { name: pair.slice(0, eq).trim(), value: pair.slice(eq + 1).trim(), raw: line, attrs };
}

/** Every cookie a response set, in order. */
export function parseSetCookies(res: Response): ParsedCookie[] {
  return setCookieLines(res).map(parseSetCookie);
}
