// Signed in through LINK: splices TASK_ID again, waits for the Rust test's go-ahead (the new splice
// done), then deletes it: the confirmation is dismissed once (nothing happens) and accepted.
import { env, out, run, screenshot, signInWithLink, waitForInput } from './lib.mjs';

await run(async (browser) => {
  const base = env('BASE');
  const page = await (await browser.newContext()).newPage();
  await signInWithLink(page, env('LINK'));
  const taskPage = `${base}/admin/recordings/${env('TASK_ID')}`;
  await page.goto(taskPage);
  out('spliced_before', (await page.textContent('#splic-time')).trim());
  await page.click('#resplice button');
  await page.waitForSelector('#notice');
  out('notice', (await page.textContent('#notice')).trim());
  out('waiting', 'resplice');
  await waitForInput();
  await page.goto(taskPage);
  out('spliced_after', (await page.textContent('#splic-time')).trim());
  out('splice_job', await page.$$eval('#splice tbody td', (tds) => tds.map((td) => td.innerText)));
  out('splice_runs', await page.$$eval('#splice-runs tbody tr', (trs) => trs.map((tr) => tr.innerText.split('\t'))));
  await screenshot(page, 'console-respliced');

  let answer = 'dismiss';
  page.on('dialog', (d) => { out('dialog', d.message()); return answer === 'accept' ? d.accept() : d.dismiss(); });
  await page.click('#delete button');
  await page.waitForTimeout(500);
  out('after_dismiss_path', new URL(page.url()).pathname);
  answer = 'accept';
  await Promise.all([page.waitForURL((u) => u.pathname === '/admin/recordings'), page.click('#delete button')]);
  out('after_delete_path', new URL(page.url()).pathname);
  const gone = await page.goto(taskPage);
  out('deleted_page_status', gone.status());
  await page.goto(`${base}/admin/audit`);
  out('audit', await page.$$eval('#audit tbody tr', (trs) => trs.map((tr) => tr.innerText.split('\t'))));
  await screenshot(page, 'console-audit-after-delete');
});
