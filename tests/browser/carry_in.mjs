// The carry-in box (ファイル持ち込み) in a real browser, in two phases run by tests/browser.rs.
//
// PHASE=upload: on the internet-side listener (INTERNET), a staff member signs in (CARRY_USER,
// CARRY_PASSWORD), chooses the files (FILES, separated by newlines), names the LGWAN mailbox
// (MAILBOX) and sends; the page says it was sent.
// PHASE=receive: the recipient opens the link from the notice mail (DOC_URL, on the LGWAN-side
// listener) and downloads the disarmed file; the ZIP's link (ZIP_URL) shows its password form.
//
// Every page is judged by axe-core; prints one JSON line of what was seen and downloaded.
import { download, env, expect, judge, options, run } from './lib.mjs';

const PHASE = env('PHASE');

await run(async (browser, out) => {
  const context = await browser.newContext({ ...options, locale: 'ja-JP' });
  const page = await context.newPage();
  if (PHASE === 'upload') {
    const INTERNET = env('INTERNET');
    await page.goto(`${INTERNET}/carry-in`);
    expect(await page.getByRole('heading', { level: 1, name: 'ファイル持ち込み: サインイン' }).isVisible(), 'the carry-in sign-in page');
    await judge(page, '20-carry-in-sign-in');
    await page.getByLabel('利用者名').fill(env('CARRY_USER'));
    await page.getByLabel('パスワード').fill('wrong password');
    await page.getByRole('button', { name: 'サインイン' }).click();
    expect(await page.getByRole('alert').isVisible(), 'a wrong password is told in an alert');
    await judge(page, '21-carry-in-refused');
    await page.getByLabel('利用者名').fill(env('CARRY_USER'));
    await page.getByLabel('パスワード').fill(env('CARRY_PASSWORD'));
    await Promise.all([page.waitForURL(`${INTERNET}/carry-in`), page.getByRole('button', { name: 'サインイン' }).click()]);
    expect(await page.getByRole('heading', { level: 1, name: 'ファイル持ち込み' }).isVisible(), 'the upload form after signing in');
    await judge(page, '22-carry-in-form');
    await page.getByLabel('持ち込むファイル').setInputFiles(env('FILES').split('\n'));
    await page.getByLabel('届け先（LGWAN 側のメールアドレス）').fill(env('MAILBOX'));
    await page.getByLabel('受信者へのメッセージ（任意）').fill('会議資料です。確認をお願いします。');
    await page.getByRole('button', { name: '無害化して送る' }).click();
    const status = page.getByRole('status');
    await status.waitFor();
    out.status = await status.innerText();
    expect(out.status.includes('2 件のファイル'), `the page says the files were sent: ${out.status}`);
    await judge(page, '23-carry-in-sent');
  } else {
    await page.goto(env('DOC_URL'));
    expect(await page.getByRole('heading', { level: 1, name: '受信したファイル' }).isVisible(), 'the LGWAN-side recipient page');
    expect(await page.getByRole('cell', { name: 'マクロ' }).first().isVisible(), 'the removed macro is listed');
    await judge(page, '24-carry-in-recipient');
    out.clean = await download(page, () => page.getByRole('link', { name: /ダウンロード/ }).first().click(), 'carry-in-clean');
    await page.goto(env('ZIP_URL'));
    expect(await page.getByLabel('パスワード').isVisible(), 'the password ZIP has its unlock form');
    await judge(page, '25-carry-in-zip');
  }
});
