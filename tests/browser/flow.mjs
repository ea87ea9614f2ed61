// The recipient and approver pages in a real browser: headless Debian Chromium driven by
// Playwright, every page judged by axe-core (WCAG 2.x A/AA rules; any violation fails).
// Run by tests/browser.rs, which processes a mail in `url` mode, starts `mugai serve` and
// passes the links from the mail's notice here. Prints one JSON line of what it downloaded.
//
// Env: BASE, DOC_URL (recipient link of a macro .docm), ZIP_URL (link of a password ZIP),
// APPROVER_USER and APPROVER_PASSWORD (an administrator of the test directory), ZIP_PASSWORD,
// ARTIFACTS (screenshots and downloads go there), CHROMIUM.
import path from 'node:path';
import { ARTIFACTS, download, env, expect, judge, options, run } from './lib.mjs';

const BASE = env('BASE');
const DOC_URL = env('DOC_URL');
const ZIP_URL = env('ZIP_URL');

await run(async (browser, out) => {
  // 1. The recipient opens the link from the notice (Japanese browser).
  const recipient = await browser.newContext({ ...options, locale: 'ja-JP' });
  const page = await recipient.newPage();
  await page.goto(DOC_URL);
  expect(await page.locator('html').getAttribute('lang') === 'ja', 'the page is Japanese for a Japanese browser');
  expect(await page.getByRole('heading', { level: 1, name: '受信したファイル' }).isVisible(), 'the page has its heading');
  expect(await page.getByRole('cell', { name: 'マクロ' }).first().isVisible(), 'the removed macro is listed');
  await judge(page, '01-recipient-ja');
  const clean = await download(page, () => page.getByRole('link', { name: /ダウンロード/ }).first().click(), 'clean-download');
  out.clean = clean;

  // 2. Requests the original: says who asks and why, then by keyboard only: Tab to the
  //    button, Enter.
  await page.getByLabel('申請者（このファイルを受け取ったメールアドレス）').fill('kakari@city.example.lg.jp');
  await page.getByLabel('申請理由').fill('監査のため原本の確認が必要です');
  const request = page.getByRole('button', { name: '原本の開示を申請する' });
  for (let i = 0; i < 20 && !(await request.evaluate((el) => el === document.activeElement)); i++) {
    await page.keyboard.press('Tab');
  }
  expect(await request.evaluate((el) => el === document.activeElement), 'the request button is reachable by Tab');
  const outline = await request.evaluate((el) => getComputedStyle(el).outlineStyle);
  expect(outline !== 'none', `the focused button shows a focus outline (${outline})`);
  await Promise.all([page.waitForURL(/\?m=requested$/), page.keyboard.press('Enter')]);
  expect(await page.getByRole('status').first().innerText().then((t) => t.includes('申請しました')), 'the request is confirmed');
  await judge(page, '02-requested');

  // 3. An administrator signs in from the directory (LDAP) and approves it with a comment.
  const approverContext = await browser.newContext({ ...options, locale: 'ja-JP' });
  const approver = await approverContext.newPage();
  await approver.goto(`${BASE}/approvals`);
  await judge(approver, '03-approver-sign-in');
  await approver.getByLabel('利用者名').fill(env('APPROVER_USER'));
  await approver.getByLabel('パスワード').fill(env('APPROVER_PASSWORD'));
  await Promise.all([approver.waitForURL(`${BASE}/approvals`), approver.getByRole('button', { name: 'サインイン' }).click()]);
  const approve = approver.getByRole('button', { name: /^承認: 報告書\.docm$/ });
  expect(await approve.isVisible(), 'the pending request is listed for the approver');
  expect(await approver.getByText('監査のため原本の確認が必要です').isVisible(), 'the approver sees why it was asked');
  expect(await approver.getByRole('definition').filter({ hasText: /^資料$/ }).isVisible(), 'and the mail\'s subject');
  await judge(approver, '04-approver-pending');
  await approver.getByLabel('申請者へのコメント（任意）').fill('確認しました');
  await Promise.all([approver.waitForURL(`${BASE}/approvals`), approve.click()]);
  expect(await approver.getByText('承認待ちの申請はありません').isVisible(), 'the queue is empty after approval');
  await judge(approver, '05-approver-done');

  // 3b. The admin console: search by subject, the message's trace, its original with a reason,
  //     the statistics.
  await Promise.all([approver.waitForURL(`${BASE}/admin`), approver.getByRole('link', { name: '管理コンソール' }).click()]);
  await approver.getByLabel('件名').fill('資料');
  await Promise.all([approver.waitForURL(/\/admin\?/), approver.getByRole('button', { name: '検索' }).click()]);
  const found = approver.locator('tbody tr');
  expect(await found.count() === 1, 'the search finds the one message');
  await judge(approver, '12-admin-search');
  await Promise.all([approver.waitForURL(/\/admin\/messages\//), found.first().getByRole('link').click()]);
  expect(await approver.getByText('original.approved').first().isVisible(), 'the trace shows the approval');
  await judge(approver, '13-admin-message');
  await approver.getByLabel('理由（監査ログに記録されます）', { exact: true }).fill('ブラウザ試験');
  out.eml = await download(approver, () => approver.getByRole('button', { name: '原本をダウンロード', exact: true }).click(), 'original.eml');
  await approver.goto(`${BASE}/admin/stats`);
  expect(await approver.getByRole('img', { name: '日ごとの受信メッセージ数（処理結果別）' }).isVisible(), 'the chart is drawn');
  await judge(approver, '14-admin-stats');

  // 4. The recipient reloads the page and downloads the original.
  await page.goto(DOC_URL);
  const original = await download(page, () => page.getByRole('link', { name: '原本をダウンロード' }).click(), 'original-download');
  out.original = original;
  await judge(page, '06-recipient-approved');

  // 5. The same page in English.
  const english = await browser.newContext({ ...options, locale: 'en-US' });
  const en = await english.newPage();
  await en.goto(DOC_URL);
  expect(await en.locator('html').getAttribute('lang') === 'en', 'the page is English for an English browser');
  expect(await en.getByRole('heading', { level: 1, name: 'Received file' }).isVisible(), 'English heading');
  await judge(en, '07-recipient-en');

  // 6. A password ZIP: a wrong password, then the right one, through the form.
  await page.goto(ZIP_URL);
  await judge(page, '08-held-zip');
  await page.getByLabel('パスワード').fill('wrong-password');
  await page.getByRole('button', { name: '開いて無害化する' }).click();
  expect(await page.getByRole('alert').innerText().then((t) => t.includes('パスワードが違います')), 'a wrong password is told');
  await judge(page, '09-wrong-password');
  await page.getByLabel('パスワード').fill(env('ZIP_PASSWORD'));
  await Promise.all([page.waitForURL(/\?m=unlocked$/), page.getByRole('button', { name: '開いて無害化する' }).click()]);
  expect(await page.getByRole('status').first().innerText().then((t) => t.includes('無害化しました')), 'the unlock is confirmed');
  await judge(page, '10-unlocked');
  out.unlocked = await download(page, () => page.getByRole('link', { name: /ダウンロード/ }).first().click(), 'unlocked-download');

  // 7. The display switch: large text and high contrast, chosen in the footer, stay on.
  await page.getByLabel('文字の大きさ').selectOption('large');
  await page.getByLabel('コントラスト').selectOption('high');
  await Promise.all([page.waitForURL(ZIP_URL + '?m=unlocked'), page.getByRole('button', { name: '表示を変更' }).click()]);
  expect(await page.locator('html').getAttribute('class') === 'large contrast', 'the choice is on the page');
  await judge(page, '15-large-contrast');

  // 8. Larger text (browser zoom 200%) still fits without horizontal scrolling.
  await page.evaluate(() => { document.documentElement.style.fontSize = '200%'; });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  expect(overflow <= 0, `no horizontal scrolling at 200% text (${overflow}px)`);
  await page.screenshot({ path: path.join(ARTIFACTS, '11-text-200.png'), fullPage: true });
});
