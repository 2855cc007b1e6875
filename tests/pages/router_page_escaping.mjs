// Names, keys and error messages with markup in them are shown as text by the admin page:
// a placement whose name is a <script> element (and a pin to it, whose reason is markup), a
// routing key that is an <img onerror>, and
// (after the test writes an invalid config on the "hostile_names_shown" step) a rejection reason
// quoting markup. Nothing of it may become an element or run.
//
//   node router_page_escaping.mjs --url http://127.0.0.1:PORT/ --placement '<script>…' --key '<img …>'
//        --rejected '<b id=…>…</b>'

import { runScenario, step, waitInPage, required } from "./browser.mjs";

// Markup that must never be parsed: the page has exactly its own two scripts, no images, and
// no element or global that the hostile names would create.
function injected() {
  const found = [];
  if (document.scripts.length !== 2) found.push(document.scripts.length + " script elements");
  if (document.images.length !== 0) found.push(document.images.length + " img elements");
  if (document.querySelector("b#injected")) found.push("a <b id=injected> element");
  if (window.__injected !== undefined) found.push("window.__injected was set");
  return found;
}

await runScenario(async (page, args) => {
  const url = required(args, "url");
  const placement = required(args, "placement");
  const key = required(args, "key");
  const rejected = required(args, "rejected");

  await page.goto(url);
  await waitInPage(page, "the hostile placement name as a row's text", (name) =>
    [...document.querySelectorAll("#placements tr")].some((row) => row.dataset.placement === name &&
      row.querySelector("td.name strong").textContent === name), placement);

  await page.fill("#route-key", key);
  await page.click("#route-form button");
  const explanation = await waitInPage(page, "the route preview of the hostile key", (key) =>
    document.getElementById("route-result").dataset.key === key &&
    document.getElementById("route-explanation").textContent, key);
  if (!explanation.includes(placement)) throw new Error("explanation does not name the placement: " + explanation);
  const keyShown = await page.evaluate(() => document.querySelector("#route-facts dd").textContent);
  if (keyShown !== key) throw new Error(`routing key shown as ${JSON.stringify(keyShown)}`);
  const operation = await waitInPage(page, "the pin to the hostile placement in the operations list", (name) =>
    [...document.querySelectorAll("#operation-list li")].map((li) => li.textContent).find((text) => text.includes(name)),
    placement);
  if (!operation.includes(rejected)) throw new Error("the pin's reason is not shown as text: " + operation);
  let found = await page.evaluate(injected);
  if (found.length) throw new Error("markup was parsed: " + found.join(", "));
  step("hostile_names_shown");

  // The test now writes a config whose error message quotes `rejected`.
  const reason = await waitInPage(page, "the rejected config and its reason", () =>
    document.querySelector("#rejected-config .reason")?.textContent, undefined, 20000);
  if (!reason.includes(rejected)) throw new Error(`rejection reason does not quote the markup as text: ${reason}`);
  found = await page.evaluate(injected);
  if (found.length) throw new Error("markup was parsed: " + found.join(", "));
  step("rejection_shown", { reason });
});
