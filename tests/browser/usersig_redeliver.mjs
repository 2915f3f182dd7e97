// Without a session the console sends the browser to its sign-in page. There, a recorder's UserSig
// (USERSIG_USER for USER) is refused and the admin's (USERSIG_ADMIN for ADMIN) signs in; then the
// recording TASK_ID's callback is redelivered and the page shows the new attempt.
import { env, out, run, screenshot } from './lib.mjs';

await run(async (browser) => {
  const base = env('BASE');
  const page = await (await browser.newContext()).newPage();
  await page.goto(`${base}/admin/recordings`);
  out('unsigned_lands_on', new URL(page.url()).pathname);

  const signIn = async (identifier, sig, landed) => {
    await page.fill('#login input[name=sdkappid]', env('SDKAPPID'));
    await page.fill('#login input[name=identifier]', identifier);
    await page.fill('#login textarea[name=usersig]', sig);
    await Promise.all([page.waitForResponse((r) => r.request().method() === 'POST'), page.click('#login button')]);
    await landed();
  };
  await signIn(env('USER'), env('USERSIG_USER'), () => page.waitForSelector('#error'));
  out('user_refused', (await page.textContent('#error')).trim());
  await signIn(env('ADMIN'), env('USERSIG_ADMIN'), () => page.waitForURL((u) => u.pathname !== '/admin/login'));
  out('signed_in_at', new URL(page.url()).pathname);
  out('signed_in_as', (await page.textContent('#who')).trim());
  await screenshot(page, 'console-apps');

  const taskPage = `${base}/admin/recordings/${env('TASK_ID')}`;
  await page.goto(taskPage);
  const count = () => page.$$eval('#attempts tr.attempt', (trs) => trs.length);
  const before = await count();
  out('attempts_before', before);
  await page.click('#redeliver button');
  await page.waitForSelector('#notice');
  out('notice', (await page.textContent('#notice')).trim());
  // The delivery runs on the job queue: reload until its attempt is listed.
  let after = await count();
  for (let i = 0; i < 60 && after <= before; i++) {
    await page.waitForTimeout(500);
    await page.goto(taskPage);
    after = await count();
  }
  out('attempts_after', after);
  out('attempts', await page.$$eval('#attempts tr.attempt', (trs) => trs.map((tr) => tr.innerText.split('\t'))));
  await screenshot(page, 'console-redelivered');
});
