// What the browser flows share: the environment, the expectation log, axe-core on a page
// (WCAG 2.x A/AA and best-practice rules; any violation fails), downloads, and the browser
// (headless Debian Chromium through Playwright) with the screenshots of a failure.
import { chromium } from 'playwright-core';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

export const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
export const ARTIFACTS = env('ARTIFACTS');
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

export const checked = [];
export function expect(condition, what) {
  if (!condition) throw new Error(`expected: ${what}`);
  checked.push(what);
}

// axe-core on the page as it is now; the screenshot is taken first so a failure has one.
export async function judge(page, name) {
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
  await page.evaluate(axeSource);
  const result = await page.evaluate(() =>
    window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] } }));
  if (result.violations.length > 0) {
    const lines = result.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`);
    throw new Error(`axe-core: ${name}: ${lines.join('; ')}`);
  }
  checked.push(`axe-core: no violations on ${name} (${result.passes.length} rules passed)`);
}

export async function download(page, action, name) {
  const [dl] = await Promise.all([page.waitForEvent('download'), action()]);
  const file = path.join(ARTIFACTS, name);
  await dl.saveAs(file);
  return { file, sha256: createHash('sha256').update(readFileSync(file)).digest('hex'), suggested: dl.suggestedFilename() };
}

// bypassCSP lets axe-core's script into pages whose CSP allows no script at all.
export const options = { acceptDownloads: true, bypassCSP: true, viewport: { width: 1024, height: 800 } };

// Run `flow(browser, out)` in a fresh headless Chromium; on failure every open page is
// screenshotted into ARTIFACTS; on success one JSON line of `out` (with `checked`) is printed.
export async function run(flow) {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  const out = {};
  try {
    await flow(browser, out);
  } catch (e) {
    // The state each page was in when the flow failed, for the artifacts.
    let i = 0;
    for (const context of browser.contexts()) {
      for (const p of context.pages()) {
        await p.screenshot({ path: path.join(ARTIFACTS, `failure-${i++}.png`), fullPage: true }).catch(() => {});
        console.error(`page ${i - 1}: ${p.url()}`);
      }
    }
    throw e;
  } finally {
    await browser.close();
  }
  out.checked = checked;
  console.log(JSON.stringify(out));
}
