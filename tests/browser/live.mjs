// Signed in through LINK, watches the live page: it lists the recording TASK_ID with RECEIVED_1 of
// LENGTH bytes received, then (after the Rust test sends more and says so on stdin) shows
// RECEIVED_2 by refreshing itself, with no reload by the script.
import { env, out, run, screenshot, signInWithLink, waitForInput } from './lib.mjs';

await run(async (browser) => {
  const base = env('BASE');
  const page = await (await browser.newContext()).newPage();
  await signInWithLink(page, env('LINK'));
  await page.goto(`${base}/admin/live`);
  const row = `#live tr[data-task="${env('TASK_ID')}"] .progress`;
  const want = (n) => `${n} / ${env('LENGTH')} bytes`;
  await page.waitForSelector(row);
  out('progress_1', (await page.textContent(row)).trim());
  await screenshot(page, 'console-live-1');
  out('waiting', 'more bytes');
  await waitForInput();
  // Only the page's own refresh can bring the new figure (the script never navigates).
  let seen = '';
  for (let i = 0; i < 150 && seen !== want(env('RECEIVED_2')); i++) {
    await page.waitForTimeout(200);
    seen = await page.textContent(row, { timeout: 2000 }).then((t) => t.trim(), () => '');
  }
  out('progress_2', seen);
  out('url_path', new URL(page.url()).pathname);
  await screenshot(page, 'console-live-2');
});
