// What the console refuses, from a real browser: pages without a session go to sign-in, a form
// POSTed without a session is refused, and (signed in through LINK) a form without its CSRF token
// is refused and changes nothing.
import { env, out, run, screenshot, signInWithLink } from './lib.mjs';

await run(async (browser) => {
  const base = env('BASE');
  const task = env('TASK_ID');
  const anon = await (await browser.newContext()).newPage();
  for (const path of ['/admin', '/admin/recordings', `/admin/recordings/${task}`, '/admin/live', '/admin/audit']) {
    await anon.goto(`${base}${path}`);
    out(`anon_get ${path}`, new URL(anon.url()).pathname);
  }
  // A same-origin form POST with no session (the sign-in page is ours, so Origin is right).
  const post = async (page, action, csrf) => page.evaluate(([action, csrf]) => {
    const f = document.createElement('form');
    f.method = 'post';
    f.action = action;
    if (csrf !== null) {
      const i = document.createElement('input');
      i.type = 'hidden'; i.name = 'csrf'; i.value = csrf;
      f.appendChild(i);
    }
    document.body.appendChild(f);
    f.submit();
  }, [action, csrf]);
  let resp = anon.waitForResponse((r) => r.url().endsWith('/delete'));
  await post(anon, `/admin/recordings/${task}/delete`, 'x'.repeat(64));
  out('anon_post_status', (await resp).status());
  await anon.waitForURL((u) => u.pathname.endsWith('/delete'));
  await screenshot(anon, 'console-refused-no-session');

  const page = await (await browser.newContext()).newPage();
  await signInWithLink(page, env('LINK'));
  await page.goto(`${base}/admin/recordings/${task}`);
  // Strip the token from the delete form, then submit it (accepting the confirmation).
  page.on('dialog', (d) => d.accept());
  await page.evaluate(() => document.querySelector('#delete input[name=csrf]').remove());
  resp = page.waitForResponse((r) => r.url().endsWith('/delete'));
  await page.click('#delete button');
  out('no_csrf_status', (await resp).status());
  await page.waitForURL((u) => u.pathname.endsWith('/delete'));
  out('no_csrf_error', (await page.textContent('#error')).trim());
  await screenshot(page, 'console-refused-no-csrf');
  // A wrong token is refused the same way.
  await page.goto(`${base}/admin/recordings/${task}`);
  resp = page.waitForResponse((r) => r.url().endsWith('/delete'));
  await post(page, `/admin/recordings/${task}/delete`, 'f'.repeat(64));
  out('wrong_csrf_status', (await resp).status());
  await page.waitForURL((u) => u.pathname.endsWith('/delete'));
  await page.goto(`${base}/admin/recordings/${task}`);
  out('still_there', (await page.textContent('#task-id')).trim());
});
