/**
 * Real-browser harness (not a test file itself): Debian's Chromium driven by playwright-core, and the
 * reference app listening on 127.0.0.1 with a temporary DATA_DIR.
 *
 * Without /usr/bin/chromium the suite skips with a visible notice on a user's machine; under CI=true
 * it fails instead (the same rule as test/helpers/services.ts). Never downloads a browser.
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import pino from "pino";
import { chromium, type Browser, type Page } from "playwright-core";
import { createApp, type AppHandle } from "../../app/app.js";
import { parseConfig } from "../../app/config.js";
import { hashPassword } from "../../src/auth/index.js";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
export const SESSION_KEYS = "browser-test-key-0123456789abcdef0123456789";
export const COOKIE = "sessionkit.sid";
export const PASSWORD = "correct horse battery staple";
export const SCREENSHOTS = path.resolve(import.meta.dirname, "../../test-results/browser");

/**
 * true when Chromium is installed. When it is not: under CI=true throw (the run fails); otherwise
 * print a notice and answer false so the caller can `describe.skipIf(!ok)`.
 */
export function requireChromium(): boolean {
  if (fs.existsSync(CHROMIUM)) return true;
  const message = `chromium not found at ${CHROMIUM}`;
  if (process.env.CI === "true") {
    throw new Error(`${message}; under CI=true a missing browser fails the run. Install it: apt-get install -y chromium`);
  }
  console.warn(`\n  SKIPPED: ${message}; the browser tests are skipped. Install it with "apt-get install -y chromium".\n`);
  return false;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

export interface RunningApp {
  handle: AppHandle;
  /** e.g. http://127.0.0.1:40123 (no trailing slash) */
  url: string;
  addUser(label: string): Promise<{ id: string; email: string; password: string }>;
  close(): Promise<void>;
}

/** createApp + listen on 127.0.0.1:0, SQLite sessions in a temporary DATA_DIR, fixed keys. */
export async function startApp(): Promise<RunningApp> {
  const dataDir = await mkdtemp(path.join(tmpdir(), "sk-browser-"));
  const config = {
    ...parseConfig({ DATA_DIR: dataDir, SESSION_STORE: "sqlite", SESSION_KEYS, LOG_LEVEL: "silent", PORT: "0" }),
    seedDemoUser: false,
  };
  const handle = await createApp(config, { logger: pino({ level: "silent" }) });
  const server: Server = handle.app.listen(0, "127.0.0.1");
  await new Promise<void>((resolve, reject) => {
    server.once("listening", resolve);
    server.once("error", reject);
  });
  const { port } = server.address() as AddressInfo;
  return {
    handle,
    url: `http://127.0.0.1:${port}`,
    async addUser(label) {
      const email = `${label}-${randomBytes(4).toString("hex")}@example.com`;
      const user = await handle.users.create({ email, passwordHash: await hashPassword(PASSWORD), role: "user" });
      return { id: user.id, email: user.email, password: PASSWORD };
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await handle.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Fill the login form by its labels and press the button, as a person would; waits for the next page. */
export async function loginThroughForm(page: Page, email: string, password: string): Promise<void> {
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password", { exact: true }).fill(password);
  await Promise.all([page.waitForNavigation(), page.getByRole("button", { name: "Log in" }).click()]);
}

/** Save the page's screenshot under test-results/browser/ (never throws: it runs in finally blocks). */
export async function screenshot(page: Page | undefined, name: string): Promise<void> {
  if (!page || page.isClosed()) return;
  try {
    await mkdir(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
  } catch (error) {
    console.warn(`screenshot ${name} failed: ${(error as Error).message}`);
  }
}

/** The visible text of the page's main content. */
export function mainText(page: Page): Promise<string> {
  return page.locator("body").innerText();
}
