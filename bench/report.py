#!/usr/bin/env python3
"""Summarise a scripts/bench.sh results CSV: medians, and ratios paired by round.

A ratio "x nginx" is computed within each round (the contender's figure divided by nginx's in
the same round, at the same connection count), then summarised over the rounds as
median (min-max). Absolute figures are medians over rounds; on a shared machine only the
ratios are meant to be compared across runs.

  report.py --csv results.csv [--meta results.meta.json] [--json out.json] [--md out.md] [--png out.png]
"""

import argparse
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict

NAMES = {
    "direct": "no proxy (wrk → backend)",
    "nginx": "nginx",
    "haproxy": "HAProxy",
    "router": "cell-router, access log off",
    "router-log": "cell-router, access log on",
    "router-shared": "cell-router variant: one io_context shared by all threads",
}
ORDER = ["direct", "nginx", "haproxy", "router", "router-log", "router-shared"]


def num(v):
    if v is None or v == "":
        return None
    return float(v)


def summary(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def fmt(s, digits=2, spread=True):
    if s is None:
        return "–"
    m = s["median"]
    text = f"{m:,.{digits}f}"
    if spread and s["n"] > 1:
        text += f" ({s['min']:,.{digits}f}–{s['max']:,.{digits}f})"
    return text


def fmt_ratio(s):
    if s is None:
        return "–"
    text = f"{s['median']:.2f}×"
    if s["n"] > 1:
        text += f" ({s['min']:.2f}–{s['max']:.2f})"
    return text


def load(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def by_key(rows, test):
    """(contender, connections, round) -> row"""
    out = {}
    for r in rows:
        if r["test"] == test:
            out[(r["contender"], int(r["connections"]), int(r["round"]))] = r
    return out


def paired(table, metric, contender, reference, conns, rounds, combine=None):
    """Per-round ratios contender/reference (reference may be a function of the round)."""
    ratios = []
    for rnd in rounds:
        a = table.get((contender, conns, rnd))
        if a is None or num(a.get(metric)) is None:
            continue
        if combine:
            ref = combine(rnd)
        else:
            b = table.get((reference, conns, rnd))
            ref = num(b.get(metric)) if b else None
        if ref:
            ratios.append(num(a.get(metric)) / ref)
    return summary(ratios)


def contenders_in(rows):
    present = {r["contender"] for r in rows}
    return [c for c in ORDER if c in present]


def worker_note(s):
    """For nginx (master + worker): the worker's own peak RSS too."""
    total, worker = s.get("peak_rss_kib"), s.get("peak_rss_worker_kib")
    if total and worker and worker["median"] < total["median"]:
        return f" (worker {worker['median'] / 1024:.1f})"
    return ""


def core_use(s):
    """The contender's share of its core, and what other processes took of it meanwhile."""
    mine, others = s.get("proxy_core_pct"), s.get("proxy_core_others_pct")
    if not others:
        return "–"
    if not mine:
        return f"– / {others['median']:.0f} %"
    return f"{mine['median']:.0f} % / {others['median']:.0f} %"


def kernel_cpu(rows):
    """The kernel's part of each round's CPU per request (None for runs recorded without the split)."""
    parts = []
    for r in rows:
        total, user = num(r.get("cpu_us_per_req")), num(r.get("user_cpu_us_per_req"))
        parts.append(total - user if total is not None and user is not None else None)
    return summary(parts)


def user_and_kernel(s):
    """Median user-space and kernel CPU per request."""
    user, kernel = s.get("user_cpu_us_per_req"), s.get("kernel_cpu_us_per_req")
    if not user or not kernel:
        return "–"
    return f"{user['median']:.1f} / {kernel['median']:.1f}"


def small_section(rows, result, md):
    table = by_key(rows, "small")
    if not table:
        return
    conns_list = sorted({k[1] for k in table})
    rounds = sorted({k[2] for k in table})
    names = contenders_in([r for r in rows if r["test"] == "small"])
    result["small"] = {}
    md.append("### Small requests: GET, keep-alive, `X-Routing-Key` rotating over every placement and unknown keys\n")
    md.append("Medians over rounds; in brackets the min–max over rounds. Ratios are paired: each round's "
              "figure divided by the reference's in the same round, then the median (min–max) of those.\n")
    for conns in conns_list:
        result["small"][conns] = {}
        md.append(f"#### {conns} connections\n")
        md.append("| contender | req/s | req/s × nginx | req/s × no proxy | p50 ms | p99 ms | p99 × nginx | "
                  "CPU µs/req | of it user / kernel | CPU × nginx | its core: contender / others | peak RSS MiB | "
                  "RSS × nginx |")
        md.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for c in names:
            rs = [table[(c, conns, r)] for r in rounds if (c, conns, r) in table]
            if not rs:
                continue
            s = {m: summary([num(r.get(m)) for r in rs]) for m in
                 ("rps", "p50_ms", "p99_ms", "cpu_us_per_req", "proxy_core_pct", "peak_rss_kib",
                  "peak_rss_worker_kib", "backend_cpu_us_per_req", "load_core_pct",
                  "proxy_core_others_pct", "user_cpu_us_per_req")}
            s["kernel_cpu_us_per_req"] = kernel_cpu(rs)
            ratios = {
                "rps_vs_nginx": paired(table, "rps", c, "nginx", conns, rounds),
                "rps_vs_direct": paired(table, "rps", c, "direct", conns, rounds),
                "p50_vs_nginx": paired(table, "p50_ms", c, "nginx", conns, rounds),
                "p99_vs_nginx": paired(table, "p99_ms", c, "nginx", conns, rounds),
                "p50_vs_direct": paired(table, "p50_ms", c, "direct", conns, rounds),
                "p99_vs_direct": paired(table, "p99_ms", c, "direct", conns, rounds),
                "cpu_vs_nginx": paired(table, "cpu_us_per_req", c, "nginx", conns, rounds),
                "cpu_vs_haproxy": paired(table, "cpu_us_per_req", c, "haproxy", conns, rounds),
                "rss_vs_nginx": paired(table, "peak_rss_kib", c, "nginx", conns, rounds),
            }

            def best_of_two(rnd, conns=conns):
                vals = [num(table[(x, conns, rnd)]["cpu_us_per_req"]) for x in ("nginx", "haproxy")
                        if (x, conns, rnd) in table]
                vals = [v for v in vals if v]
                return min(vals) if vals else None
            ratios["cpu_vs_router"] = paired(table, "cpu_us_per_req", c, "router", conns, rounds)
            ratios["rps_vs_router"] = paired(table, "rps", c, "router", conns, rounds)
            ratios["p99_vs_router"] = paired(table, "p99_ms", c, "router", conns, rounds)
            ratios["cpu_vs_best"] = paired(table, "cpu_us_per_req", c, None, conns, rounds, combine=best_of_two)
            result["small"][conns][c] = {"medians": s, "ratios": ratios}
            rss = None
            if s["peak_rss_kib"]:
                rss = {k: (v / 1024 if k != "n" else v) for k, v in s["peak_rss_kib"].items()}
            md.append("| " + " | ".join([
                NAMES.get(c, c),
                fmt(s["rps"], 0),
                fmt_ratio(ratios["rps_vs_nginx"]) if c != "nginx" else "1",
                fmt_ratio(ratios["rps_vs_direct"]) if c != "direct" else "1",
                fmt(s["p50_ms"], 2, spread=False),
                fmt(s["p99_ms"], 2, spread=False),
                fmt_ratio(ratios["p99_vs_nginx"]) if c != "nginx" else "1",
                fmt(s["cpu_us_per_req"], 1),
                user_and_kernel(s),
                (fmt_ratio(ratios["cpu_vs_nginx"]) if c != "nginx" else "1") if c != "direct" else "–",
                core_use(s),
                fmt(rss, 1, spread=False) + worker_note(s),
                (fmt_ratio(ratios["rss_vs_nginx"]) if c != "nginx" else "1") if c != "direct" else "–",
            ]) + " |")
        md.append("")
        # The load side: was it the bottleneck?
        load = []
        for c in names:
            rs = [table[(c, conns, r)] for r in rounds if (c, conns, r) in table]
            b = summary([num(r["backend_cpu_us_per_req"]) for r in rs])
            l = summary([num(r["load_core_pct"]) for r in rs])
            if b and l:
                load.append(f"{NAMES.get(c, c)} {b['median']:.1f} µs/req, core {l['median']:.0f} %")
        if load:
            md.append(f"Backend CPU per request and the load core's use (backend + wrk): {'; '.join(load)}.\n")


def headline(result, md):
    if "small" not in result:
        return
    lines = []
    for conns, per in sorted(result["small"].items()):
        for c in ("router", "router-log", "router-shared"):
            if c in per and per[c]["ratios"]["cpu_vs_best"]:
                r = per[c]["ratios"]["cpu_vs_best"]
                cpu = lambda x: per.get(x, {}).get("medians", {}).get("cpu_us_per_req")
                show = lambda v: f"{v['median']:.1f}" if v else "–"
                verdict = "met" if r["max"] <= 0.8 else ("met in median only" if r["median"] <= 0.8 else "missed")
                lines.append(f"| {conns} | {NAMES[c]} | {show(cpu(c))} | {show(cpu('nginx'))} | "
                             f"{show(cpu('haproxy'))} | {fmt_ratio(r)} | {verdict} |")
    log_lines = []
    for conns, per in sorted(result["small"].items()):
        r = per.get("router-log", {}).get("ratios", {}).get("cpu_vs_router")
        if r:
            log_lines.append(f"| {conns} | {fmt_ratio(r)} |")
    if lines:
        md.append("### Headline: CPU per request against the better of nginx and HAProxy (target ≤ 0.8×)\n")
        md.append("| connections | contender | CPU µs/req | nginx µs/req | HAProxy µs/req | × better of the two (paired) | target ≤ 0.8× |")
        md.append("|---|---|---|---|---|---|---|")
        md.extend(lines)
        md.append("")
    shared_lines = []
    for conns, per in sorted(result["small"].items()):
        r = per.get("router-shared", {}).get("ratios", {})
        if r.get("cpu_vs_router"):
            shared_lines.append(f"| {conns} | {fmt_ratio(r['cpu_vs_router'])} | {fmt_ratio(r.get('rps_vs_router'))} | "
                                f"{fmt_ratio(r.get('p99_vs_router'))} |")
    if shared_lines:
        md.append("The shared-io_context variant against thread-per-core (`router`), paired by round:\n")
        md.append("| connections | CPU µs/req × | req/s × | p99 × |")
        md.append("|---|---|---|---|")
        md.extend(shared_lines)
        md.append("")
    if log_lines:
        md.append("Cost of the access log: cell-router's CPU per request with `--access-log on` divided by "
                  "the same with `off`, paired by round:\n")
        md.append("| connections | CPU × (log on ÷ log off) |")
        md.append("|---|---|")
        md.extend(log_lines)
        md.append("")


def body_section(rows, result, md, meta):
    tests = [t for t in ("get", "post") if any(r["test"] == t for r in rows)]
    if not tests:
        return
    size = meta.get("body_bytes", 10485760) / 1048576
    md.append(f"### {size:g} MiB bodies ({meta.get('body_connections', '?')} connections, "
              f"{meta.get('body_duration', '?')} per run)\n")
    md.append("RSS growth = peak RSS during the run minus RSS before it; a proxy that buffered whole "
              f"bodies would grow by about {size:g} MiB per connection.\n")
    md.append("| test | contender | MiB/s | × nginx | × no proxy | CPU µs per MiB | CPU × nginx | RSS growth MiB |")
    md.append("|---|---|---|---|---|---|---|---|")
    result["body"] = {}
    for t in tests:
        table = by_key(rows, t)
        rounds = sorted({k[2] for k in table})
        conns = sorted({k[1] for k in table})[0]
        result["body"][t] = {}
        for c in contenders_in([r for r in rows if r["test"] == t]):
            rs = [table[(c, conns, r)] for r in rounds if (c, conns, r) in table]
            s = {m: summary([num(r.get(m)) for r in rs]) for m in
                 ("mib_per_s", "cpu_us_per_mib", "rss_growth_kib", "p99_ms", "load_core_pct", "proxy_core_pct")}
            ratios = {
                "mibs_vs_nginx": paired(table, "mib_per_s", c, "nginx", conns, rounds),
                "mibs_vs_direct": paired(table, "mib_per_s", c, "direct", conns, rounds),
                "cpu_vs_nginx": paired(table, "cpu_us_per_mib", c, "nginx", conns, rounds),
            }
            result["body"][t][c] = {"medians": s, "ratios": ratios}
            growth = None
            if s["rss_growth_kib"]:
                growth = {k: (v / 1024 if k != "n" else v) for k, v in s["rss_growth_kib"].items()}
            md.append("| " + " | ".join([
                t.upper(), NAMES.get(c, c), fmt(s["mib_per_s"], 0),
                fmt_ratio(ratios["mibs_vs_nginx"]) if c != "nginx" else "1",
                fmt_ratio(ratios["mibs_vs_direct"]) if c != "direct" else "1",
                fmt(s["cpu_us_per_mib"], 0) if c != "direct" else "–",
                (fmt_ratio(ratios["cpu_vs_nginx"]) if c != "nginx" else "1") if c != "direct" else "–",
                fmt(growth, 1) if c != "direct" else "–",
            ]) + " |")
    md.append("")


def idle_section(rows, result, md):
    idle = [r for r in rows if r["test"] == "idle"]
    if not idle:
        return
    table = by_key(rows, "idle")
    rounds = sorted({k[2] for k in table})
    n = sorted({k[1] for k in table})[0]
    md.append(f"### {n} idle keep-alive client connections\n")
    md.append("Each connection has served one request and stays open; RSS (summed over the contender's "
              "processes) before opening them and 1 s after.\n")
    md.append("| contender | RSS before MiB | RSS added MiB | bytes per connection | × nginx |")
    md.append("|---|---|---|---|---|")
    result["idle"] = {}
    for c in contenders_in(idle):
        rs = [table[(c, n, r)] for r in rounds if (c, n, r) in table]
        s = {m: summary([num(r.get(m)) for r in rs]) for m in ("rss_before_kib", "idle_delta_kib", "idle_per_conn_bytes")}
        ratio = paired(table, "idle_delta_kib", c, "nginx", n, rounds)
        result["idle"][c] = {"medians": s, "ratios": {"delta_vs_nginx": ratio}}
        mib = lambda x: None if x is None else {k: (v / 1024 if k != "n" else v) for k, v in x.items()}
        md.append("| " + " | ".join([
            NAMES.get(c, c), fmt(mib(s["rss_before_kib"]), 1, spread=False),
            fmt(mib(s["idle_delta_kib"]), 1), fmt(s["idle_per_conn_bytes"], 0),
            fmt_ratio(ratio) if c != "nginx" else "1",
        ]) + " |")
    md.append("")


def plot(result, png):
    gnuplot = shutil.which("gnuplot")
    if not gnuplot or "small" not in result:
        print("report: no gnuplot or no small-request results; no chart", file=sys.stderr)
        return
    conns_list = sorted(result["small"])
    names = [c for c in ORDER if any(c in result["small"][k] for k in conns_list)]
    metrics = [("rps", "requests/s"), ("p99_ms", "p99 latency, ms"), ("cpu_us_per_req", "contender CPU, µs per request")]
    with tempfile.TemporaryDirectory() as d:
        data = os.path.join(d, "data.tsv")
        with open(data, "w") as f:
            for conns in conns_list:
                cols = [str(conns)]
                for metric, _ in metrics:
                    for c in names:
                        s = result["small"][conns].get(c, {}).get("medians", {}).get(metric)
                        cols += [f"{s['median']}", f"{s['min']}", f"{s['max']}"] if s else ["NaN"] * 3
                f.write("\t".join(cols) + "\n")
        n = len(names)
        panels = []
        for m, (metric, title) in enumerate(metrics):
            plots = ", ".join(
                f"'{data}' using {2 + 3 * (m * n + i)}:{3 + 3 * (m * n + i)}:{4 + 3 * (m * n + i)}:xtic(1) "
                f"title '{NAMES[c]}' lc {i + 1}"
                for i, c in enumerate(names) if not (metric == "cpu_us_per_req" and c == "direct"))
            panels.append(f"set title '{title} (median; bars: min–max over rounds)'\nplot {plots}")
        panel_text = "\n".join(panels)
        script = f"""
set terminal pngcairo size 1600,560 font ',10'
set output '{png}'
set multiplot layout 1,3
set style data histogram
set style histogram errorbars gap 1 lw 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set key below font ',9'
set grid ytics
set yrange [0:*]
set xlabel 'client connections'
{panel_text}
unset multiplot
"""
        try:
            subprocess.run([gnuplot], input=script, text=True, check=True, timeout=60,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            print(f"report: chart {png}", file=sys.stderr)
        except (subprocess.SubprocessError, OSError) as e:
            print(f"report: gnuplot failed: {e}", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--csv", required=True)
    ap.add_argument("--meta")
    ap.add_argument("--json")
    ap.add_argument("--md")
    ap.add_argument("--png")
    args = ap.parse_args()
    rows = load(args.csv)
    meta = {}
    if args.meta:
        with open(args.meta) as f:
            meta = json.load(f)
    result = {"meta": meta}
    md = []
    if meta:
        m = meta.get("machine", {})
        v = meta.get("versions", {})
        md.append(f"Run {meta.get('date')}: {m.get('nproc')} cores ({m.get('cpu')}), kernel {m.get('kernel')}, "
                  f"{m.get('os')}; {v.get('nginx')}; {v.get('haproxy')}; {v.get('wrk')}; "
                  f"cell-router {v.get('cell-router')}. ")
        md.append(f"Command: `{meta.get('command')}` ({meta.get('rounds')} rounds, {meta.get('duration')} "
                  f"per run after a {meta.get('warmup')} warm-up; backend: {meta.get('backend')}; "
                  f"{meta.get('elapsed_s', 0) // 60} min {meta.get('elapsed_s', 0) % 60} s in all"
                  + (f"; {meta['problems']} runs had errors" if meta.get("problems") else "") + ").\n")
    small_section(rows, result, md)
    headline(result, md)
    body_section(rows, result, md, meta)
    idle_section(rows, result, md)
    text = "\n".join(md)
    print(text)
    if args.md:
        with open(args.md, "w") as f:
            f.write(text + "\n")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2, default=str)
    if args.png:
        plot(result, args.png)


if __name__ == "__main__":
    main()
