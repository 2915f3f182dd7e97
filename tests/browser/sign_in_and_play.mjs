// Signs in with a one-time link (LINK), finds a recording by its class (CLASS_ID), opens it and
// plays it; then tries the same link in a fresh browser context (it must be refused).
import { env, out, run, screenshot, signInWithLink } from './lib.mjs';

await run(async (browser) => {
  const link = env('LINK');
  const classId = env('CLASS_ID');
  const page = await (await browser.newContext()).newPage();
  await signInWithLink(page, link);
  out('signed_in_as', (await page.textContent('#who')).trim());

  await page.click('nav >> text=Recordings');
  await page.fill('#search input[name=class]', classId);
  await page.click('#search button');
  await page.waitForURL((u) => u.searchParams.get('class') === classId);
  await page.waitForSelector('#recordings');
  const rows = await page.$$eval('#recordings tbody tr', (trs) => trs.map((tr) => tr.innerText));
  out('rows', rows.length);
  await page.click('#recordings a.task');
  await page.waitForSelector('#player');
  out('task_id', (await page.textContent('#task-id')).trim());

  // Play: the element must be able to play on (readyState >= 3) and its clock must move.
  await page.evaluate(() => { const v = document.getElementById('player'); v.muted = true; return v.play(); });
  await page.waitForFunction(() => document.getElementById('player').readyState >= 3, null, { timeout: 30000 });
  const t0 = await page.evaluate(() => document.getElementById('player').currentTime);
  await page.waitForFunction((t) => document.getElementById('player').currentTime > t + 0.5, t0, { timeout: 30000 });
  const v = await page.evaluate(() => {
    const v = document.getElementById('player');
    return { readyState: v.readyState, currentTime: v.currentTime, duration: v.duration, width: v.videoWidth };
  });
  out('ready_state', v.readyState);
  out('current_time_advanced', v.currentTime > t0);
  out('duration', v.duration);
  out('video_width', v.width);
  out('slices', await page.$$eval('#slices tbody tr', (trs) => trs.map((tr) => tr.innerText.split('\t'))));
  await screenshot(page, 'console-recording-playing');

  // The same link again, in a browser with no session: refused.
  const again = await (await browser.newContext()).newPage();
  const resp = await again.goto(link);
  out('second_use_status', resp.status());
  out('second_use_error', (await again.textContent('#error')).trim());
  out('second_use_has_button', (await again.$('#use-link')) !== null);
  await screenshot(again, 'console-link-used-twice');
});
