// Takes a screenshot of a page once it shows live data; used by scripts/screenshots.sh.
//
//   node screenshot.mjs --url http://127.0.0.1:PORT/ --out file.png --ready '#placements tr[data-placement]'
//        [--route-key visa]   (admin page: also ask the route form about this key first)
//        [--height 500]       (viewport height; the picture still grows to the whole page)
//        [--until-gone n/a --in '#placements']  (also wait until that text is gone from there)

import { runScenario, step, waitInPage, required } from "./browser.mjs";

await runScenario(async (page, args) => {
  const out = required(args, "out");
  const ready = required(args, "ready");
  if (args.height !== undefined) await page.setViewportSize({ width: 1280, height: Number(args.height) });
  await page.goto(required(args, "url"));
  await waitInPage(page, `${ready} on the page`, (selector) => document.querySelector(selector) !== null, ready);
  if (args["until-gone"] !== undefined) {
    const where = required(args, "in");
    await waitInPage(page, `no "${args["until-gone"]}" in ${where}`,
                     ([selector, text]) => !document.querySelector(selector)?.innerText.includes(text),
                     [where, args["until-gone"]]);
  }
  if (args["route-key"] !== undefined) {
    await page.fill("#route-key", args["route-key"]);
    await page.click("#route-form button");
    await waitInPage(page, "the route preview", () => document.getElementById("route-explanation") !== null);
  }
  await page.screenshot({ path: out, fullPage: true });
  step("screenshot", { out });
});
