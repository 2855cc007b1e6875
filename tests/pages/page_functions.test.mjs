// The pages' pure functions (the <script id="page-functions"> block of each page), run under
// Node without a browser: the Prometheus text parser, per-placement counts and rates, the
// fleet page's ages, lag wording and router bookkeeping.
//
//   node --test tests/pages/page_functions.test.mjs

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import vm from "node:vm";

const root = new URL("../../", import.meta.url);

// Evaluates a page's function block and returns the object it defines under `name`.
function pageFunctions(path, name) {
  const html = readFileSync(new URL(path, root), "utf8");
  const block = /<script id="page-functions">([\s\S]*?)<\/script>/.exec(html);
  assert.ok(block, `${path} has no <script id="page-functions"> block`);
  return vm.runInNewContext(block[1] + `\n${name};`, {}, { filename: path });
}

const router = pageFunctions("src/admin/router_page.html", "routerPage");
const fleet = pageFunctions("src/controlplane/fleet_page.html", "fleetPage");

const exposition = `# HELP cellrouter_requests_total Requests answered, by placement, reason and status class.
# TYPE cellrouter_requests_total counter
cellrouter_requests_total{placement="tier1",reason="tier",code="2xx"} 10
cellrouter_requests_total{placement="tier1",reason="tier",code="5xx"} 2
cellrouter_requests_total{placement="visa",reason="dedicated",code="2xx"} 4 1700000000000
cellrouter_requests_total{code="4xx",placement="visa",reason="dedicated"} 1
cellrouter_requests_total{placement="a \\"quoted\\", {odd} \\\\ name\\n",reason="default",code="5xx"} 3
cellrouter_in_flight{placement="tier1"} 7
cellrouter_up 1
`;

test("parses samples, labels with escapes, timestamps and lines without labels", () => {
  const { samples, malformed } = router.parsePrometheusText(exposition);
  assert.equal(malformed, 0);
  assert.equal(samples.length, 7);
  assert.deepEqual({ ...samples[0].labels }, { placement: "tier1", reason: "tier", code: "2xx" });
  assert.equal(samples[2].value, 4);
  assert.equal(samples[4].labels.placement, 'a "quoted", {odd} \\ name\n');
  assert.equal(samples[6].name, "cellrouter_up");
  assert.deepEqual({ ...samples[6].labels }, {});
});

test("special values parse; malformed lines are counted and skipped", () => {
  const { samples, malformed } = router.parsePrometheusText(
    'a NaN\nb +Inf\nc -Inf\nd{x="1"} 1e3\n\nnot a sample\ne{x="unterminated} 1\nf{x=1} 2\ng{x="1"} twelve\n');
  assert.deepEqual([...samples.map((s) => s.name)], ["a", "b", "c", "d"]);
  assert.ok(Number.isNaN(samples[0].value));
  assert.equal(samples[1].value, Infinity);
  assert.equal(samples[3].value, 1000);
  assert.equal(malformed, 4);
});

test("sums cellrouter_requests_total per placement; errors are code 5xx", () => {
  const counts = router.requestCounts(router.parsePrometheusText(exposition).samples);
  assert.deepEqual(JSON.parse(JSON.stringify(counts)), {
    tier1: { requests: 12, errors: 2 },
    visa: { requests: 5, errors: 0 },
    'a "quoted", {odd} \\ name\n': { requests: 3, errors: 3 },
  });
});

test("rates come from the difference between two polls", () => {
  const first = { at: 1000, counts: { tier1: { requests: 10, errors: 1 } } };
  const second = { at: 3000, counts: { tier1: { requests: 30, errors: 5 }, visa: { requests: 4, errors: 0 } } };
  const rates = router.requestRates(first, second);
  assert.deepEqual({ ...rates.tier1 }, { requests: 10, errors: 2 });
  // visa had no series at the first poll: it had served nothing yet.
  assert.deepEqual({ ...rates.visa }, { requests: 2, errors: 0 });
});

test("no rate without an earlier poll, without elapsed time, or across a counter reset", () => {
  const now = { at: 5000, counts: { tier1: { requests: 3, errors: 0 } } };
  assert.deepEqual({ ...router.requestRates(null, now).tier1 }, { requests: null, errors: null });
  assert.deepEqual({ ...router.requestRates({ ...now }, now).tier1 }, { requests: null, errors: null });
  const before = { at: 1000, counts: { tier1: { requests: 100, errors: 0 } } };
  assert.deepEqual({ ...router.requestRates(before, now).tier1 }, { requests: null, errors: null });
});

test("rates format as n/a when unknown", () => {
  assert.equal(router.formatRate(null), "n/a");
  assert.equal(router.formatRate(undefined), "n/a");
  assert.equal(router.formatRate(0), "0");
  assert.equal(router.formatRate(2.5), "2.50");
  assert.equal(router.formatRate(125.04), "125.0");
});

test("ages read as the two largest units", () => {
  assert.equal(fleet.formatAge(0), "0s");
  assert.equal(fleet.formatAge(59), "59s");
  assert.equal(fleet.formatAge(75), "1m 15s");
  assert.equal(fleet.formatAge(3600), "1h");
  assert.equal(fleet.formatAge(90061), "1d 1h");
  assert.equal(fleet.formatAge(null), "n/a");
  assert.equal(fleet.formatAge(-1), "n/a");
});

test("lag reads current, or versions and time behind", () => {
  assert.equal(fleet.describeLag({ acked_current: true, versions_behind: 0, behind_seconds: 0 }), "current");
  assert.equal(fleet.describeLag({ acked_current: false, versions_behind: 1, behind_seconds: 5 }), "1 version behind for 5s");
  assert.equal(fleet.describeLag({ acked_current: false, versions_behind: 3, behind_seconds: 125 }), "3 versions behind for 2m 5s");
  assert.equal(fleet.describeLag({ acked_current: false, versions_behind: null, behind_seconds: 7 }), "unknown versions behind for 7s");
});

test("a router missing from /status stays listed as disconnected, then is forgotten", () => {
  const a = { id: "router-a", address: "127.0.0.1:1" };
  const b = { id: "router-b", address: "127.0.0.1:2" };
  let known = fleet.mergeRouters({}, [a, b], 0, 1000);
  assert.deepEqual(Object.keys(known), ["router-a", "router-b"]);
  known = fleet.mergeRouters(known, [a], 500, 1000);
  assert.equal(known["router-b"].connected, false);
  assert.equal(known["router-b"].lastSeen, 0);
  assert.equal(known["router-a"].connected, true);
  known = fleet.mergeRouters(known, [a, b], 600, 1000);  // it reconnected
  assert.equal(known["router-b"].connected, true);
  known = fleet.mergeRouters(known, [a], 700, 1000);
  known = fleet.mergeRouters(known, [a], 1700, 1000);
  assert.deepEqual(Object.keys(known), ["router-a"]);
});

test("two routers with the same id stay two rows", () => {
  const known = fleet.mergeRouters({}, [{ id: "r", address: "x:1" }, { id: "r", address: "x:2" }], 0, 1000);
  assert.deepEqual(Object.keys(known), ["r", "r @ x:2"]);
});

test("operations read as one line each, those in force first", () => {
  const lines = router.operationLines({
    drains: {
      tier1: { to: "tier3", start: "2026-12-03T18:00:00.000Z", ramp_seconds: 300, from_share: 0, to_share: 1,
               share_now: 0.42, reason: "kernel upgrade" },
      tier2: { to: "tier3", start: "2026-12-03T18:00:00.000Z", ramp_seconds: 60, from_share: 1, to_share: 0,
               share_now: 0 },
    },
    pins: { acme: { placement: "tier2", expires: "2026-12-03T19:00:00.000Z", active: true, reason: "debugging" } },
    pauses: { globex: { until: "2026-12-03T18:05:00.000Z", retry_after_seconds: 30, active: false } },
  });
  assert.equal(lines.length, 4);
  // JSON: the page's arrays come from another realm (vm), whose prototypes differ from ours.
  assert.equal(JSON.stringify(lines.map((line) => [line.kind, line.active])),
               JSON.stringify([["drain", true], ["pin", true], ["undrain", false], ["pause", false]]));
  assert.equal(lines[0].text,
               "drain tier1 → tier3: 42 % of its keys moved now (0 % → 100 % from 2026-12-03T18:00:00.000Z over 300 s) · kernel upgrade");
  assert.equal(lines[1].text, "pin acme → tier2 until 2026-12-03T19:00:00.000Z · debugging");
  assert.equal(lines[3].text, "pause globex ended at 2026-12-03T18:05:00.000Z (503, Retry-After 30 s)");
  assert.equal(router.operationLines(undefined).length, 0);
  assert.equal(router.operationLines({ drains: {}, pins: {}, pauses: {} }).length, 0);
});
