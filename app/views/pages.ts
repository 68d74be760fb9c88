/** The app's pages. Plain HTML forms; every form that changes something carries the CSRF token. */
import { html, layout, type SafeHtml } from "./html.js";

export interface ViewUser {
  email: string;
  role: string;
}

function errorBox(message: string | undefined): SafeHtml | string {
  return message ? html`<p class="error" role="alert" id="form-error">${message}</p>` : "";
}

function notice(message: string | undefined): SafeHtml | string {
  return message ? html`<p class="notice" role="status">${message}</p>` : "";
}

export function loginPage(options: { csrfToken: string; email?: string; next?: string; error?: string; notice?: string }): string {
  const described = options.error ? html` aria-describedby="form-error"` : "";
  return layout(
    { title: "Log in" },
    html`<h1>Log in</h1>
    ${notice(options.notice)}
    ${errorBox(options.error)}
    <form method="post" action="/login" class="card">
      <input type="hidden" name="_csrf" value="${options.csrfToken}">
      ${options.next ? html`<input type="hidden" name="next" value="${options.next}">` : ""}
      <label for="email">Email</label>
      <input id="email" name="email" type="email" autocomplete="username" required value="${options.email ?? ""}"${described}>
      <label for="password">Password</label>
      <input id="password" name="password" type="password" autocomplete="current-password" required maxlength="1024"${described}>
      <button type="submit">Log in</button>
    </form>`,
  );
}

export function dashboardPage(options: { user: ViewUser & { id: string }; csrfToken: string }): string {
  const { user } = options;
  return layout(
    { title: "Dashboard", user, csrfToken: options.csrfToken },
    html`<h1>Dashboard</h1>
    <p>You are signed in as <strong>${user.email}</strong> (role: ${user.role}).</p>
    <dl class="card">
      <dt>User id</dt><dd><code>${user.id}</code></dd>
      <dt>Email</dt><dd>${user.email}</dd>
      <dt>Role</dt><dd>${user.role}</dd>
    </dl>
    <p><a href="/account/sessions">See where you are signed in</a> · <a href="/account/password">Change your password</a></p>`,
  );
}

export interface ViewSession {
  id: string;
  current: boolean;
  createdAt: number;
  lastSeenAt: number;
  ip?: string | undefined;
  userAgent?: string | undefined;
}

function time(ms: number): SafeHtml {
  const iso = new Date(ms).toISOString();
  return html`<time datetime="${iso}">${iso.replace("T", " ").slice(0, 19)} UTC</time>`;
}

/** A short, readable device name from a user agent; the full string stays in the title attribute. */
export function describeDevice(userAgent: string | undefined): string {
  if (!userAgent) return "Unknown device";
  const browser =
    /Edg\//.test(userAgent) ? "Edge"
    : /Firefox\//.test(userAgent) ? "Firefox"
    : /Chrome\//.test(userAgent) ? "Chrome"
    : /Safari\//.test(userAgent) ? "Safari"
    : /curl\//.test(userAgent) ? "curl"
    : undefined;
  const system =
    /iPhone|iPad/.test(userAgent) ? "iOS"
    : /Android/.test(userAgent) ? "Android"
    : /Windows/.test(userAgent) ? "Windows"
    : /Mac OS X/.test(userAgent) ? "macOS"
    : /Linux/.test(userAgent) ? "Linux"
    : undefined;
  if (browser && system) return `${browser} on ${system}`;
  return browser ?? system ?? userAgent.slice(0, 60);
}

export function sessionsPage(options: { user: ViewUser; sessions: ViewSession[]; csrfToken: string; notice?: string; error?: string }): string {
  const rows = options.sessions.map(
    (entry) => html`<tr>
        <td data-label="Device"><span title="${entry.userAgent ?? ""}">${describeDevice(entry.userAgent)}</span>${entry.current ? html` <strong class="badge">This device</strong>` : ""}</td>
        <td data-label="IP address">${entry.ip ?? "unknown"}</td>
        <td data-label="Last seen">${time(entry.lastSeenAt)}</td>
        <td data-label="Signed in">${time(entry.createdAt)}</td>
        <td class="action">${
          entry.current
            ? html`<span class="muted">Current</span>`
            : html`<form method="post" action="/account/sessions/${encodeURIComponent(entry.id)}/revoke" class="inline">
            <input type="hidden" name="_csrf" value="${options.csrfToken}">
            <button type="submit" class="danger" aria-label="Revoke session on ${describeDevice(entry.userAgent)}, last seen ${new Date(entry.lastSeenAt).toISOString()}">Revoke</button>
          </form>`
        }</td>
      </tr>`,
  );
  const others = options.sessions.filter((entry) => !entry.current).length;
  return layout(
    { title: "Sessions", user: options.user, csrfToken: options.csrfToken },
    html`<h1>Where you are signed in</h1>
    ${notice(options.notice)}
    ${errorBox(options.error)}
    <table class="sessions">
      <caption>${options.sessions.length} active session${options.sessions.length === 1 ? "" : "s"}</caption>
      <thead><tr><th scope="col">Device</th><th scope="col">IP address</th><th scope="col">Last seen</th><th scope="col">Signed in</th><th scope="col"><span class="visually-hidden">Action</span></th></tr></thead>
      <tbody>
      ${rows}
      </tbody>
    </table>
    ${
      others > 0
        ? html`<form method="post" action="/account/sessions/revoke-others">
      <input type="hidden" name="_csrf" value="${options.csrfToken}">
      <button type="submit" class="danger">Revoke all others</button>
    </form>`
        : ""
    }`,
  );
}

export function passwordPage(options: { user: ViewUser; csrfToken: string; error?: string; notice?: string }): string {
  const described = options.error ? html` aria-describedby="form-error"` : "";
  return layout(
    { title: "Change password", user: options.user, csrfToken: options.csrfToken },
    html`<h1>Change password</h1>
    ${notice(options.notice)}
    ${errorBox(options.error)}
    <form method="post" action="/account/password" class="card">
      <input type="hidden" name="_csrf" value="${options.csrfToken}">
      <label for="currentPassword">Current password</label>
      <input id="currentPassword" name="currentPassword" type="password" autocomplete="current-password" required${described}>
      <label for="newPassword">New password <span class="hint">(at least 12 characters)</span></label>
      <input id="newPassword" name="newPassword" type="password" autocomplete="new-password" required minlength="8" maxlength="1024"${described}>
      <button type="submit">Change password</button>
    </form>
    <p class="muted">Changing your password signs you out everywhere else.</p>`,
  );
}

export function errorPage(status: number, message: string): string {
  return layout({ title: `Error ${status}` }, html`<h1>${message}</h1><p><a href="/">Go to the start page</a></p>`);
}
