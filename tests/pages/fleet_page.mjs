// The fleet page against a live control plane and routers: every router converges on the
// current version; after the test writes a new config (on the "converged" step) the page shows
// the new version converged and its staged rollout promoted; after the test stops a router (on "new_version_converged") the page
// shows it disconnected and counts only the routers still connected.
//
//   node fleet_page.mjs --url http://127.0.0.1:PORT/ --routers router-0,router-1 --version 1.0.0
//        --next-version 2.0.0 --stopped router-1

import { runScenario, step, waitInPage, required } from "./browser.mjs";

function fleetState() {
  const routers = {};
  for (const row of document.querySelectorAll("#routers tr[data-router]")) {
    const cell = (name) => row.querySelector("td." + name)?.innerText.trim() ?? "";
    routers[row.dataset.router] = { connected: row.dataset.connected === "true", acked: cell("acked"), lag: cell("lag"),
                                    nack: cell("last-nack"), age: cell("age") };
  }
  const converged = document.getElementById("converged");
  return { version: document.getElementById("current-version").textContent,
           acked: Number(converged.dataset.acked), total: Number(converged.dataset.total), routers };
}

// Waits until the page shows `version` as current and acked by every one of `ids`, connected.
async function waitConverged(page, version, ids) {
  return waitInPage(page, `${ids.join(", ")} converged on ${version}`, ([version, ids]) => {
    const converged = document.getElementById("converged");
    const rows = [...document.querySelectorAll("#routers tr[data-router]")];
    const current = (id) => rows.some((row) => row.dataset.router === id && row.dataset.connected === "true" &&
      row.querySelector("td.acked").textContent.startsWith(version) &&
      row.querySelector("td.lag").textContent === "current");
    return document.getElementById("current-version").textContent === version &&
      converged.dataset.acked === String(ids.length) && converged.dataset.total === String(ids.length) &&
      ids.every(current);
  }, [version, ids], 20000);
}

await runScenario(async (page, args) => {
  const url = required(args, "url");
  const ids = required(args, "routers").split(",");
  const version = required(args, "version");
  const next = required(args, "next-version");
  const stopped = required(args, "stopped");

  await page.goto(url);
  await waitConverged(page, version, ids);
  let state = await page.evaluate(fleetState);
  for (const id of ids) {
    if (!/^\d+[smhd]/.test(state.routers[id].age)) throw new Error(`${id}: connection age reads "${state.routers[id].age}"`);
    if (state.routers[id].nack !== "none") throw new Error(`${id}: last nack reads "${state.routers[id].nack}"`);
  }
  step("converged", { text: await page.textContent("#converged") });

  await waitConverged(page, next, ids);
  step("new_version_converged", { text: await page.textContent("#converged") });

  // The change went to the canary first: the page shows the promoted rollout and its steps.
  await waitInPage(page, `rollout of ${next} shown promoted with its steps`, ([next]) => {
    const section = document.getElementById("rollout");
    const summary = document.getElementById("rollout-summary").textContent;
    return !section.hidden && summary.startsWith("promoted") && summary.includes("→ " + next) &&
      document.querySelectorAll("#rollout-steps li").length >= 4;
  }, [next], 20000);
  step("rollout_shown", { text: await page.textContent("#rollout-summary") });

  const rest = ids.filter((id) => id !== stopped);
  await waitInPage(page, `${stopped} shown disconnected and ${rest.length} of ${rest.length} converged`, ([stopped, count]) => {
    const row = [...document.querySelectorAll("#routers tr[data-router]")].find((r) => r.dataset.router === stopped);
    const converged = document.getElementById("converged");
    return row && row.dataset.connected === "false" && row.querySelector("td.acked").textContent.includes("disconnected") &&
      converged.dataset.acked === String(count) && converged.dataset.total === String(count);
  }, [stopped, rest.length], 20000);
  state = await page.evaluate(fleetState);
  step("router_disconnected_shown", { text: await page.textContent("#converged"), lag: state.routers[stopped].lag });
});
