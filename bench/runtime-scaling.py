#!/usr/bin/env python3
"""How each contender scales from one worker on one core to two workers on two cores.

Reads the JSON summaries that scripts/bench.sh writes for the two runs of
scripts/bench-runtimes.sh and prints, per contender and connection count, the medians of both
runs and their ratio (two cores / one core). The runs are separate, so these ratios are not
paired by round like bench.sh's; the spread of each median is in the runs' own reports.
"""
import argparse
import json

NAMES = {
    "nginx": "nginx",
    "haproxy": "HAProxy",
    "router": "cell-router (thread-per-core)",
    "router-shared": "cell-router variant (shared io_context)",
}


def median(summary, conns, contender, metric):
    try:
        return summary["small"][conns][contender]["medians"][metric]["median"]
    except (KeyError, TypeError):
        return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--one", required=True, help="results-*.json of the one-core run")
    ap.add_argument("--two", required=True, help="results-*.json of the two-core run")
    ap.add_argument("--md", help="also write the table here")
    args = ap.parse_args()
    one = json.load(open(args.one))
    two = json.load(open(args.two))
    lines = ["| connections | contender | req/s, 1 core | req/s, 2 cores | × | CPU µs/req, 1 → 2 | "
             "p99 ms, 1 → 2 |", "|---|---|---|---|---|---|---|"]
    conns_list = sorted(set(one.get("small", {})) & set(two.get("small", {})), key=int)
    for conns in conns_list:
        for contender in NAMES:
            r1, r2 = median(one, conns, contender, "rps"), median(two, conns, contender, "rps")
            if r1 is None or r2 is None:
                continue
            c1, c2 = median(one, conns, contender, "cpu_us_per_req"), median(two, conns, contender, "cpu_us_per_req")
            p1, p2 = median(one, conns, contender, "p99_ms"), median(two, conns, contender, "p99_ms")
            lines.append(f"| {conns} | {NAMES[contender]} | {r1:.0f} | {r2:.0f} | {r2 / r1:.2f}× | "
                         f"{c1:.1f} → {c2:.1f} | {p1:.2f} → {p2:.2f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.md:
        with open(args.md, "w") as out:
            out.write(text)


if __name__ == "__main__":
    main()
