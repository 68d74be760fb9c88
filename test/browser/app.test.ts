/**
 * The reference app in a real browser (Debian's Chromium via playwright-core): login form, error
 * without account enumeration, logout and history, revoking another device, CSRF from a second
 * origin, and the `next` redirect. Each scenario gets a fresh browser context and leaves a screenshot
 * of its last page in test-results/browser/ (also when it fails).
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Browser, BrowserContext, Page, Response } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  COOKIE,
  launchChromium,
  loginThroughForm,
  mainText,
  requireChromium,
  screenshot,
  startApp,
  type RunningApp,
} from "./helpers.js";

const haveChromium = requireChromium();

const UA_WINDOWS_CHROME =
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 sk-test-A";
const UA_LINUX_FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0 sk-test-B";

describe.skipIf(!haveChromium)("reference app in Chromium", { timeout: 45_000 }, () => {
  let browser: Browser;
  let app: RunningApp;
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    [browser, app] = await Promise.all([launchChromium(), startApp()]);
  });

  afterAll(async () => {
    await Promise.allSettled(contexts.map((context) => context.close()));
    await browser?.close();
    await app?.close();
  });

  async function newPage(userAgent?: string): Promise<Page> {
    const context = await browser.newContext({ baseURL: app.url, ...(userAgent ? { userAgent } : {}) });
    contexts.push(context);
    return context.newPage();
  }

  /** Submit the page's login form and resolve the POST /login response (the page has loaded it). */
  async function submitLogin(page: Page, email: string, password: string): Promise<Response> {
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password", { exact: true }).fill(password);
    const [response] = await Promise.all([
      page.waitForResponse((r) => r.request().method() === "POST" && new URL(r.url()).pathname === "/login"),
      page.getByRole("button", { name: "Log in" }).click(),
    ]);
    await page.waitForLoadState();
    return response;
  }

  it("1. logs in through the form; the dashboard shows the user; the session cookie is HttpOnly", async () => {
    const user = await app.addUser("form");
    let page: Page | undefined;
    try {
      page = await newPage();
      await page.goto("/login");
      await expect(page.title()).resolves.toMatch(/Log in/);
      await loginThroughForm(page, user.email, user.password);

      expect(new URL(page.url()).pathname).toBe("/dashboard");
      await expect(page.getByRole("heading", { name: "Dashboard" }).isVisible()).resolves.toBe(true);
      const text = await mainText(page);
      expect(text).toContain(`You are signed in as ${user.email}`);
      expect(text).toContain(user.id);

      const cookies = await page.context().cookies();
      const session = cookies.find((c) => c.name === COOKIE);
      expect(session?.httpOnly).toBe(true);
      expect(session?.sameSite).toBe("Lax");
      const documentCookie = await page.evaluate<string>("document.cookie");
      expect(documentCookie).not.toContain(COOKIE);
      expect(documentCookie).not.toContain(session?.value ?? "§");
    } finally {
      await screenshot(page, "1-login-dashboard");
    }
  });

  it("2. a wrong password shows a readable error, keeps the email, and an unknown account looks the same", async () => {
    const user = await app.addUser("wrong");
    const unknown = `nobody-${Date.now()}@example.com`;
    let page: Page | undefined;
    try {
      page = await newPage();
      await page.goto("/login");

      const wrong = await submitLogin(page, user.email, "not the password at all");
      expect(wrong.status()).toBe(401);
      const alert = page.getByRole("alert");
      await expect(alert.innerText()).resolves.toBe("Invalid email or password");
      await expect(page.getByLabel("Email").inputValue()).resolves.toBe(user.email);
      await expect(page.getByLabel("Password", { exact: true }).inputValue()).resolves.toBe("");
      const wrongBody = await wrong.text();
      const wrongText = await mainText(page);

      const missing = await submitLogin(page, unknown, "not the password at all");
      expect(missing.status()).toBe(401);
      await expect(page.getByLabel("Email").inputValue()).resolves.toBe(unknown);
      const missingBody = await missing.text();
      const missingText = await mainText(page);

      // Identical apart from the email (and the per-page CSRF mask, which differs on every page).
      const normalize = (body: string, email: string) =>
        body.split(email).join("EMAIL").replace(/name="_csrf" value="[^"]+"/g, 'name="_csrf" value="TOKEN"');
      expect(normalize(missingBody, unknown)).toBe(normalize(wrongBody, user.email));
      expect(missingText.split(unknown).join("EMAIL")).toBe(wrongText.split(user.email).join("EMAIL"));
      expect(missing.headers()["cache-control"]).toBe(wrong.headers()["cache-control"]);
      expect(Object.keys(missing.headers()).sort()).toEqual(Object.keys(wrong.headers()).sort());
      // The form keeps working: its CSRF secret's sealed cookie is still there (no session is made for it).
      expect((await page.context().cookies()).some((c) => c.name === `${COOKIE}.csrf`)).toBe(true);
    } finally {
      await screenshot(page, "2-wrong-password");
    }
  });

  it("3. logout through the button; /dashboard then shows the login page; back shows no private data", async () => {
    const user = await app.addUser("logout");
    let page: Page | undefined;
    try {
      page = await newPage();
      await page.goto("/login");
      await loginThroughForm(page, user.email, user.password);
      const dashboard = await page.goto("/dashboard");
      expect(dashboard?.status()).toBe(200);
      expect(dashboard?.headers()["cache-control"]).toBe("no-store");
      await expect(mainText(page)).resolves.toContain(user.email);
      const sessionCookie = async () => (await page?.context().cookies())?.find((c) => c.name === COOKIE)?.value;
      const signedIn = await sessionCookie();
      expect(signedIn).toBeTruthy();

      await Promise.all([page.waitForNavigation(), page.getByRole("button", { name: "Log out" }).click()]);
      expect(new URL(page.url()).pathname).toBe("/login");
      await expect(page.getByRole("status").innerText()).resolves.toBe("You have been logged out.");
      // The login page may start a new anonymous session (for its CSRF token), never the old one.
      expect(await sessionCookie()).not.toBe(signedIn);

      // Back to the dashboard entry: no-store keeps it out of the HTTP cache (and the bfcache), so
      // Chromium fetches it again, and without a session that is the login page.
      const back = await page.goBack();
      const backText = await mainText(page);
      if (back !== null) {
        expect(backText).not.toContain(user.email);
        expect(backText).not.toContain(user.id);
        expect(new URL(page.url()).pathname).toBe("/login");
      }
      await page.reload();
      expect(new URL(page.url()).pathname).toBe("/login");
      const reloaded = await mainText(page);
      expect(reloaded).not.toContain(user.email);
      expect(reloaded).not.toContain(user.id);

      const again = await page.goto("/dashboard");
      expect(again?.status()).toBe(200);
      const landed = new URL(page.url());
      expect(landed.pathname).toBe("/login");
      expect(landed.searchParams.get("next")).toBe("/dashboard");
      await expect(page.getByRole("heading", { name: "Log in" }).isVisible()).resolves.toBe(true);
      await expect(mainText(page)).resolves.not.toContain(user.email);
    } finally {
      await screenshot(page, "3-logout-back");
    }
  });

  it("4. two browsers as one user: the sessions page lists both; revoke all others signs the second out", async () => {
    const user = await app.addUser("devices");
    let first: Page | undefined;
    let second: Page | undefined;
    try {
      first = await newPage(UA_WINDOWS_CHROME);
      second = await newPage(UA_LINUX_FIREFOX);
      for (const page of [first, second]) {
        await page.goto("/login");
        await loginThroughForm(page, user.email, user.password);
        expect(new URL(page.url()).pathname).toBe("/dashboard");
      }

      await first.getByRole("link", { name: "Sessions" }).click();
      await first.waitForURL("**/account/sessions");
      await expect(first.locator("caption").innerText()).resolves.toBe("2 active sessions");
      const rows = first.locator("tbody tr");
      await expect(rows.count()).resolves.toBe(2);
      const titles: string[] = [];
      for (const span of await rows.locator("td:first-child span[title]").all()) titles.push((await span.getAttribute("title")) ?? "");
      expect(titles.sort()).toEqual([UA_LINUX_FIREFOX, UA_WINDOWS_CHROME].sort());
      const current = rows.filter({ hasText: "This device" });
      await expect(current.innerText()).resolves.toContain("Chrome on Windows");
      await expect(rows.filter({ hasText: "Firefox on Linux" }).count()).resolves.toBe(1);

      await Promise.all([first.waitForNavigation(), first.getByRole("button", { name: "Revoke all others" }).click()]);
      await expect(first.getByRole("status").innerText()).resolves.toBe("All other sessions were signed out.");
      await expect(first.locator("caption").innerText()).resolves.toBe("1 active session");

      // The second browser still holds its cookie; its next navigation finds the session gone.
      await second.goto("/dashboard");
      const landed = new URL(second.url());
      expect(landed.pathname).toBe("/login");
      await expect(mainText(second)).resolves.not.toContain(user.email);

      // The first one is untouched.
      await first.goto("/dashboard");
      expect(new URL(first.url()).pathname).toBe("/dashboard");
      await expect(mainText(first)).resolves.toContain(user.email);
    } finally {
      await screenshot(first, "4-sessions-first");
      await screenshot(second, "4-sessions-second");
    }
  });

  it("5. forms auto-submitted from another origin cannot log out or change the password (CSRF)", async () => {
    const user = await app.addUser("csrf");
    const hashBefore = (await app.handle.users.findByEmail(user.email))?.passwordHash;
    const evil = http.createServer((req, res) => {
      const form =
        req.url === "/password"
          ? `<form method="post" action="${app.url}/account/password">
               <input name="currentPassword" value="${user.password}">
               <input name="newPassword" value="attacker-chosen-password">
             </form>`
          : `<form method="post" action="${app.url}/logout"><input name="x" value="1"></form>`;
      res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
      res.end(`<!doctype html><title>Win a prize</title>${form}<script>document.forms[0].submit()</script>`);
    });
    await new Promise<void>((resolve) => evil.listen(0, "127.0.0.1", resolve));
    const evilUrl = `http://127.0.0.1:${(evil.address() as AddressInfo).port}`;
    let page: Page | undefined;
    try {
      page = await newPage();
      await page.goto("/login");
      await loginThroughForm(page, user.email, user.password);
      expect(new URL(page.url()).pathname).toBe("/dashboard");

      for (const [path, target] of [
        ["/logout", "/logout"],
        ["/password", "/account/password"],
      ] as const) {
        const [response] = await Promise.all([
          page.waitForResponse((r) => r.request().method() === "POST" && r.url() === `${app.url}${target}`),
          page.goto(`${evilUrl}${path}`),
        ]);
        await page.waitForLoadState();
        expect(response.status()).toBe(403);
        // Same-site (same host, other port), so the SameSite=Lax cookie was sent: csrf() refused it.
        expect(await response.request().headerValue("sec-fetch-site")).toBe("same-site");
        await expect(mainText(page)).resolves.toContain("Cross-site request blocked");
      }

      await page.goto(`${app.url}/dashboard`);
      expect(new URL(page.url()).pathname).toBe("/dashboard");
      await expect(mainText(page)).resolves.toContain(user.email);
      expect((await app.handle.users.findByEmail(user.email))?.passwordHash).toBe(hashBefore);
      const oldPassword = await fetch(`${app.url}/login`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ email: user.email, password: user.password }),
      });
      expect(oldPassword.status).toBe(200);
    } finally {
      await screenshot(page, "5-csrf");
      evil.closeAllConnections();
      await new Promise<void>((resolve) => evil.close(() => resolve()));
    }
  });

  it("6. /dashboard logged out goes to /login?next=/dashboard and back after login; foreign next is ignored", async () => {
    const user = await app.addUser("next");
    let page: Page | undefined;
    try {
      page = await newPage();
      await page.goto("/dashboard");
      const atLogin = new URL(page.url());
      expect(atLogin.pathname).toBe("/login");
      expect(atLogin.search).toBe("?next=%2Fdashboard");
      await loginThroughForm(page, user.email, user.password);
      expect(page.url()).toBe(`${app.url}/dashboard`);

      for (const next of ["//evil.example/x", "https://evil.example", "/\\evil.example", "https:evil.example"]) {
        page = await newPage();
        await page.goto(`/login?next=${encodeURIComponent(next)}`);
        await expect(page.locator('input[name="next"]').count()).resolves.toBe(0);
        await loginThroughForm(page, user.email, user.password);
        const landed = new URL(page.url());
        expect(landed.origin, next).toBe(app.url);
        expect(["/dashboard", "/"], next).toContain(landed.pathname);
        await expect(mainText(page)).resolves.toContain(user.email);
      }
    } finally {
      await screenshot(page, "6-next-redirect");
    }
  });

  it("7. every page fits a 390 px phone without sideways scrolling; the icon is served", async () => {
    const user = await app.addUser("a-rather-long-mailbox-name-for-a-phone-screen");
    // Five more devices (long user agents), so the sessions page lists six.
    for (let i = 0; i < 5; i++) {
      const res = await fetch(`${app.url}/login`, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json", "User-Agent": `${UA_WINDOWS_CHROME} device-${i}` },
        body: JSON.stringify({ email: user.email, password: user.password }),
      });
      expect(res.status).toBe(200);
    }
    const context = await browser.newContext({ baseURL: app.url, viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    contexts.push(context);
    const page = await context.newPage();
    const icons: number[] = [];
    page.on("response", (response) => {
      if (new URL(response.url()).pathname === "/favicon.ico") icons.push(response.status());
    });
    const overflow = async (label: string) => {
      await screenshot(page, `7-phone-${label}`);
      const width = await page.evaluate<number>("Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)");
      expect(width, `${label} is ${width}px wide`).toBeLessThanOrEqual(390);
    };
    await page.goto("/login");
    await overflow("login");
    await page.getByLabel("Email").fill(user.email);
    await page.getByLabel("Password", { exact: true }).fill("wrong password");
    await Promise.all([page.waitForNavigation(), page.getByRole("button", { name: "Log in" }).click()]);
    await overflow("login-error");
    await loginThroughForm(page, user.email, user.password);
    await overflow("dashboard");
    await page.goto("/account/sessions");
    await expect(page.locator("caption").innerText()).resolves.toBe("6 active sessions");
    await overflow("sessions");
    await page.goto("/account/password");
    await overflow("password");
    await page.goto("/no-such-page");
    await overflow("not-found");

    const icon = await page.request.get("/favicon.ico");
    expect(icon.status()).toBe(200);
    expect(icon.headers()["content-type"]).toBe("image/x-icon");
    expect((await icon.body()).subarray(0, 4)).toEqual(Buffer.from([0, 0, 1, 0]));
    expect(icons.every((status) => status === 200)).toBe(true);
  });
});
