/**
 * HTML building blocks. Every dynamic value goes through `escapeHtml` (via the `html` tag), so a user
 * agent string, an email or an error message can never become markup.
 */

const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

export function escapeHtml(value: unknown): string {
  return String(value ?? "").replace(/[&<>"']/g, (char) => ESCAPES[char] as string);
}

/** Markup that is already safe (built by `html`); plain strings are escaped when interpolated. */
export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

/** Template tag: interpolated values are escaped unless they are SafeHtml (or arrays of it). */
export function html(strings: TemplateStringsArray, ...values: unknown[]): SafeHtml {
  let out = strings[0] ?? "";
  values.forEach((value, index) => {
    out += render(value) + (strings[index + 1] ?? "");
  });
  return new SafeHtml(out);
}

function render(value: unknown): string {
  if (value instanceof SafeHtml) return value.value;
  if (Array.isArray(value)) return value.map(render).join("");
  if (value === undefined || value === null || value === false) return "";
  return escapeHtml(value);
}

export interface LayoutOptions {
  title: string;
  /** Shown in the header with a logout button. */
  user?: { email: string; role: string } | null;
  csrfToken?: string;
}

export function layout(options: LayoutOptions, body: SafeHtml): string {
  const nav = options.user
    ? html`<nav aria-label="Account">
        <a href="/dashboard">Dashboard</a>
        <a href="/account/sessions">Sessions</a>
        <a href="/account/password">Password</a>
        <form method="post" action="/logout" class="inline">
          <input type="hidden" name="_csrf" value="${options.csrfToken}">
          <button type="submit" class="link">Log out</button>
        </form>
      </nav>`
    : "";
  return html`<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>${options.title} · koa-sessionkit</title>
  <link rel="stylesheet" href="/style.css">
  <link rel="icon" href="/favicon.ico">
</head>
<body>
  <header class="site">
    <a class="brand" href="/">koa-sessionkit</a>
    ${nav}
  </header>
  <main id="main">
${body}
  </main>
</body>
</html>
`.value;
}
