// The admin page against a live router: it lists the placements with their live state, shows a
// placement going unhealthy while the page stays open (the test stops its cell after the
// "placements_listed" step), and the route form then shows the fallback and why; a placement
// whose breaker the test opened before shows it open, and its key's fallback for that reason.
//
//   node router_page_failover.mjs --url http://127.0.0.1:PORT/ --placements tier1,tier2,tier3,visa
//        --watch visa --key visa --fallback tier3 --open-breaker tier1 --open-key acme

import { runScenario, step, waitInPage, required } from "./browser.mjs";

// {placement: {health, breaker, inFlight, requests, errors, fallback}} as the table shows it.
function tableState() {
  const rows = {};
  for (const row of document.querySelectorAll("#placements tr")) {
    const cell = (name) => row.querySelector("td." + name)?.innerText.trim() ?? "";
    rows[row.dataset.placement] = {
      health: row.querySelector("td.health .badge")?.textContent ?? "",
      breaker: row.querySelector("td.breaker .badge")?.textContent ?? "",
      inFlight: cell("in-flight"), requests: cell("requests"), errors: cell("errors"), fallback: cell("fallback"),
    };
  }
  return rows;
}

// Asks the route form about `key`; waits for its answer with a failover and returns it.
async function askRoute(page, key) {
  await page.fill("#route-key", key);
  await page.click("#route-form button");
  return waitInPage(page, `the route preview of "${key}" with a fallback`, (key) => {
    const result = document.getElementById("route-result");
    return result.dataset.key === key && result.dataset.failover !== "" &&
           { serving: result.dataset.wouldServe, failover: result.dataset.failover,
             explanation: document.getElementById("route-explanation").textContent };
  }, key);
}

await runScenario(async (page, args) => {
  const url = required(args, "url");
  const placements = required(args, "placements").split(",");
  const watched = required(args, "watch");
  const key = required(args, "key");
  const fallback = required(args, "fallback");
  const openBreaker = required(args, "open-breaker");
  const openKey = required(args, "open-key");

  const response = await page.goto(url);
  if (response.status() !== 200 || !response.headers()["content-type"].startsWith("text/html")) {
    throw new Error(`GET ${url}: ${response.status()} ${response.headers()["content-type"]}`);
  }
  const rows = await waitInPage(page, `rows for ${placements.join(", ")} with ${watched} healthy`,
    ([names, watched]) => {
      const rows = document.querySelectorAll("#placements tr");
      const shown = [...rows].map((row) => row.dataset.placement);
      const healthy = [...rows].some((row) => row.dataset.placement === watched &&
                                              row.querySelector("td.health .badge")?.textContent === "healthy");
      return names.every((name) => shown.includes(name)) && healthy && shown;
    }, [placements, watched]);
  const state = await page.evaluate(tableState);
  for (const name of placements) {
    const row = state[name];
    if (!/^\d+ \/ (\d+|∞)$/.test(row.inFlight)) throw new Error(`${name}: in-flight cell reads "${row.inFlight}"`);
    if (!row.breaker) throw new Error(`${name}: no breaker state shown`);
  }
  if (state[openBreaker].breaker !== "open") {
    throw new Error(`${openBreaker}: breaker shown as "${state[openBreaker].breaker}", expected open`);
  }
  if (state[watched].fallback !== fallback) {
    throw new Error(`${watched}: fallback shown as "${state[watched].fallback}", expected ${fallback}`);
  }
  const version = await page.textContent("#config dd");
  step("placements_listed", { placements: rows, version });

  // Rates: "n/a" while the router serves no /metrics; numbers once two polls of it were made.
  const metrics = await page.evaluate(async () => (await fetch("/metrics")).status);
  if (metrics === 404) {
    await waitInPage(page, "rates shown as n/a with the reason", () =>
      [...document.querySelectorAll("td.requests, td.errors")].every((td) => td.textContent === "n/a") &&
      document.getElementById("rates-note").textContent.includes("no /metrics"));
  } else {
    await waitInPage(page, "numeric request rates from /metrics", () =>
      [...document.querySelectorAll("td.requests")].every((td) => /^\d/.test(td.textContent)));
  }
  step("rates_shown", { metrics_status: metrics });

  // The test stops the watched placement's cell now; the open page must notice by polling.
  await waitInPage(page, `${watched} shown unhealthy`, (watched) =>
    [...document.querySelectorAll("#placements tr")].some((row) => row.dataset.placement === watched &&
      row.querySelector("td.health .badge")?.textContent === "unhealthy"), watched, 20000);
  const detail = await page.evaluate((watched) => [...document.querySelectorAll("#placements tr")]
    .find((row) => row.dataset.placement === watched).querySelector("td.health").innerText, watched);
  step("unhealthy_shown", { detail });

  const route = await askRoute(page, key);
  if (route.serving !== fallback || route.failover !== "unhealthy" ||
      !route.explanation.includes(`${watched} is unhealthy, so fallback ${fallback} serves`)) {
    throw new Error("route preview: " + JSON.stringify(route));
  }
  step("fallback_shown", route);

  const open = await askRoute(page, openKey);
  if (open.failover !== "circuit_open" ||
      !open.explanation.includes(`${openBreaker} is behind an open circuit breaker, so fallback`)) {
    throw new Error("route preview: " + JSON.stringify(open));
  }
  step("breaker_fallback_shown", open);
});
