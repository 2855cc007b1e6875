// Shared by the page scenarios and scripts/screenshots.sh: starts Debian's Chromium headless
// through playwright-core, and waits on page content with deadlines that name what was awaited.
//
// Each scenario prints one JSON line per step reached ({"event":"step","step":..,"ms":..}) so
// the integration test that runs it can act between steps (stop a cell, write a config), and
// exits 0 only when every step was seen; on failure it prints the reason and the page's text.

import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const setupHint = "run scripts/install-deps.sh (it installs chromium and npm-installs tests/pages)";

export const chromiumPath = process.env.CHROMIUM_PATH || "/usr/bin/chromium";

export async function launchBrowser() {
  if (!existsSync(chromiumPath)) {
    throw new Error(`Chromium not found at ${chromiumPath}: ${setupHint}`);
  }
  const entry = join(here, "node_modules", "playwright-core", "index.mjs");
  if (!existsSync(entry)) {
    throw new Error(`playwright-core is not installed in ${here}/node_modules: ${setupHint}`);
  }
  const { chromium } = await import(entry);
  // --no-sandbox: the tests run as root in CI containers, where Chromium's sandbox cannot start.
  return chromium.launch({ executablePath: chromiumPath, args: ["--no-sandbox"] });
}

const started = Date.now();

export function step(name, details = {}) {
  console.log(JSON.stringify({ event: "step", step: name, ms: Date.now() - started, ...details }));
}

// Polls `predicate(arg)` inside the page until it returns a truthy value or `timeoutMs` pass;
// returns that value. The error names `what` and shows what the page displayed instead.
export async function waitInPage(page, what, predicate, arg, timeoutMs = 15000) {
  try {
    const handle = await page.waitForFunction(predicate, arg, { timeout: timeoutMs, polling: 100 });
    return await handle.jsonValue();
  } catch (error) {
    const text = await page.evaluate(() => document.body.innerText).catch(() => "(page unavailable)");
    throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n--- page text ---\n${text}\n---`);
  }
}

// Fails the scenario on anything the page should never do: script errors, dialogs (an alert
// from injected markup), failed loads of the page itself.
export function watchPage(page, problems) {
  page.on("pageerror", (error) => problems.push("page error: " + error.message));
  page.on("dialog", (dialog) => {
    problems.push("page opened a dialog: " + dialog.message());
    dialog.dismiss().catch(() => {});
  });
}

// Runs `scenario(page, args)` in a fresh headless browser; exit code 0 on success, 1 on failure.
export async function runScenario(scenario) {
  let browser;
  const problems = [];
  try {
    const args = parseArgs(process.argv.slice(2));
    browser = await launchBrowser();
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    watchPage(page, problems);
    await scenario(page, args);
    if (problems.length) throw new Error(problems.join("\n"));
    step("done");
    process.exitCode = 0;
  } catch (error) {
    console.error(String(error.stack || error));
    if (problems.length) console.error(problems.join("\n"));
    process.exitCode = 1;
  } finally {
    if (browser) await browser.close().catch(() => {});
  }
}

// --name value pairs; a flag given twice keeps the last value.
export function parseArgs(argv) {
  const args = {};
  for (let i = 0; i < argv.length; i += 2) {
    if (!argv[i].startsWith("--") || i + 1 >= argv.length) {
      throw new Error(`arguments are --name value pairs; got ${JSON.stringify(argv)}`);
    }
    args[argv[i].slice(2)] = argv[i + 1];
  }
  return args;
}

export function required(args, name) {
  if (args[name] === undefined) throw new Error(`missing --${name}`);
  return args[name];
}
