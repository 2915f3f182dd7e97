// Shared by the console's browser scripts: Debian's chromium driven by playwright-core (installed
// by `deploy/localrecord.sh test` into target/tools/node; its node_modules path comes in
// LOCALRECORD_TEST_NODE_MODULES). Each script reads its inputs from the environment, prints
// `key=value` lines the Rust test asserts on, saves a screenshot, and exits non-zero on failure.
import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

export function env(name) {
  const v = process.env[name];
  if (!v) throw new Error(`environment variable ${name} is not set`);
  return v;
}

export async function launch() {
  const modules = env('LOCALRECORD_TEST_NODE_MODULES');
  const { chromium } = await import(pathToFileURL(join(modules, 'playwright-core', 'index.mjs')).href);
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--autoplay-policy=no-user-gesture-required'],
  });
}

export function out(key, value) {
  console.log(`${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`);
}

export async function screenshot(page, name) {
  const dir = env('SCREENSHOT_DIR');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  out('screenshot', path);
}

// Signs in through a one-time link: the link's page, then its button.
export async function signInWithLink(page, link) {
  await page.goto(link);
  await page.click('#use-link button');
  await page.waitForURL((u) => u.pathname === '/admin');
}

// Runs `body(browser)`; any failure prints `error=...` and exits 1, after closing the browser.
export async function run(body) {
  const browser = await launch();
  let code = 0;
  try {
    await body(browser);
  } catch (e) {
    out('error', String(e && e.stack || e));
    code = 1;
  } finally {
    await browser.close();
  }
  process.exit(code);
}

// Waits for a line on stdin (the Rust test's go-ahead between steps).
export function waitForInput() {
  return new Promise((resolve) => {
    process.stdin.setEncoding('utf8');
    process.stdin.once('data', (d) => { process.stdin.pause(); resolve(d.trim()); });
  });
}
