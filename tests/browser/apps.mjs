// One console session holding two apps, each signed in to with its own UserSig. Signs in to APP_A
// (USERSIG_A), tries to add APP_B with a UserSig that names APP_B but is signed with APP_A's key
// (USERSIG_B_FORGED) and with APP_B's recorder USER's UserSig (USERSIG_B_USER): both refused. Adds
// APP_B with its admin's UserSig (USERSIG_B), switches between the apps with the header's switcher
// (the recordings page shows TASK_A or TASK_B), opens APP_B's recording while APP_A is current,
// then signs out of APP_B alone: APP_B's recording is refused, APP_A's session goes on.
import { env, out, run, screenshot } from './lib.mjs';

await run(async (browser) => {
  const base = env('BASE');
  const [appA, appB] = [env('APP_A'), env('APP_B')];
  const page = await (await browser.newContext()).newPage();
  const listed = () => page.$$eval('#apps tbody tr', (trs) => trs.map((tr) => tr.dataset.app));
  const tasks = () => page.$$eval('#recordings a.task', (as) => as.map((a) => a.textContent.trim()));
  const who = async () => (await page.textContent('#who')).trim();

  await page.goto(`${base}/admin/login`);
  await page.fill('#login input[name=sdkappid]', appA);
  await page.fill('#login input[name=identifier]', 'administrator');
  await page.fill('#login textarea[name=usersig]', env('USERSIG_A'));
  await Promise.all([page.waitForURL((u) => u.pathname === '/admin'), page.click('#login button')]);
  out('apps_first', await listed());
  out('switcher_with_one_app', (await page.$('#switch-app')) !== null);

  const add = async (identifier, sig) => {
    await page.fill('#add-app input[name=sdkappid]', appB);
    await page.fill('#add-app input[name=identifier]', identifier);
    await page.fill('#add-app textarea[name=usersig]', sig);
    const resp = page.waitForResponse((r) => r.url().endsWith('/admin/apps/add'));
    await page.click('#add-app button');
    return (await resp).status();
  };
  out('forged_status', await add('administrator', env('USERSIG_B_FORGED')));
  out('forged_error', (await page.textContent('#add-error')).trim());
  out('apps_after_forged', await listed());
  out('recorder_status', await add(env('USER'), env('USERSIG_B_USER')));
  out('recorder_error', (await page.textContent('#add-error')).trim());
  out('apps_after_recorder', await listed());
  await screenshot(page, 'console-apps-refused');

  await add('administrator', env('USERSIG_B'));
  await page.waitForURL((u) => u.pathname === '/admin');
  out('apps_both', await listed());
  out('current_after_add', await page.$eval('#apps tr.current', (tr) => tr.dataset.app));
  out('who_after_add', await who());
  await page.click('nav >> text=Recordings');
  await page.waitForSelector('#recordings');
  out('recordings_b', await tasks());

  // The header's switcher: choosing an app submits it (console.js) and comes back to this page.
  await Promise.all([
    page.waitForURL((u) => u.pathname === '/admin/recordings'),
    page.selectOption('#switch-app select', appA),
  ]);
  await page.waitForSelector('#recordings');
  out('who_after_switch', await who());
  out('recordings_a', await tasks());
  await screenshot(page, 'console-apps-switched');

  // APP_B's recording opens while APP_A is current: the session holds APP_B too.
  let resp = await page.goto(`${base}/admin/recordings/${env('TASK_B')}`);
  out('task_b_status', resp.status());
  out('task_b_app', (await page.textContent('#sdk-app-id')).trim());

  // Sign out of APP_B only.
  await page.goto(`${base}/admin`);
  await Promise.all([
    page.waitForURL((u) => u.pathname === '/admin'),
    page.click(`#apps tr[data-app="${appB}"] .signout-app button`),
  ]);
  out('apps_after_signout', await listed());
  out('switcher_after_signout', (await page.$('#switch-app')) !== null);
  resp = await page.goto(`${base}/admin/recordings/${env('TASK_B')}`);
  out('task_b_after_signout', resp.status());
  resp = await page.goto(`${base}/admin/recordings/${env('TASK_A')}`);
  out('task_a_after_signout', resp.status());
  out('who_at_end', await who());
  await screenshot(page, 'console-apps-signed-out-of-one');
});
