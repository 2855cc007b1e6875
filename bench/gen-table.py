#!/usr/bin/env python3
"""Generate a large routing file (the `placements` format) for the table-scale benchmarks.

The output is deterministic: the same arguments always give the same bytes.

  gen-table.py --keys 100000 --out /var/tmp/table-100k.json \
      [--seed 1] [--key-seed 0] [--tiers 3] [--dedicated 5] [--dedicated-share 0.1] \
      [--backend tier1=127.0.0.1:41001 ...] [--keys-out keys.txt] [--unknown-keys 100]

Routing keys look like tenant ids ("tenant-" and 6 to 16 lowercase letters and digits, so some
fit in std::string's inline buffer and some do not). --key-seed picks the key names; --seed picks
which placement each key goes to and the file's version. Two files with the same --key-seed
and different --seed therefore hold the same keys, most of them on other placements: the
"every tenant moves" swap the reload benchmark applies under load.

Placements: --tiers shared tiers (tier1, tier2, ...; the last is defaultPlacement) and
--dedicated dedicated cells (dedicated-1, ...). About --dedicated-share of the keys go to the
dedicated cells, the rest to the tiers, each group spread evenly at random. Every placement
gets http://127.0.0.1:<9001 + its position> unless --backend gives its host:port.

--keys-out writes one routing key a line (for bench/rotate-keys.lua): every key of the table in
a shuffled order, then --unknown-keys keys the table does not know (they go to the default
placement).
"""

import argparse
import json
import random
import sys

KEY_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
KEY_PREFIX = "tenant-"
UNKNOWN_PREFIX = "unknown-"  # cannot collide with KEY_PREFIX keys


def fail(message):
    print(f"gen-table: {message}", file=sys.stderr)
    sys.exit(2)


def routing_keys(count, key_seed):
    rng = random.Random(f"keys-{key_seed}")
    # Bytes mapped onto the alphabet in bulk: a million keys take a second, not a quarter minute.
    to_alphabet = bytes.maketrans(bytes(range(256)),
                                  bytes(ord(KEY_ALPHABET[b % len(KEY_ALPHABET)]) for b in range(256)))
    seen = set()
    keys = []
    while len(keys) < count:
        batch = count - len(keys)
        letters = rng.randbytes(16 * batch).translate(to_alphabet).decode("ascii")
        lengths = rng.randbytes(batch)
        for i in range(batch):
            key = KEY_PREFIX + letters[16 * i:16 * i + 6 + lengths[i] % 11]
            if key not in seen:
                seen.add(key)
                keys.append(key)
    return keys


def placement_names(tiers, dedicated):
    return [f"tier{i}" for i in range(1, tiers + 1)], [f"dedicated-{i}" for i in range(1, dedicated + 1)]


def parse_backends(specs, names):
    backends = {}
    for spec in specs:
        name, sep, address = spec.partition("=")
        host, colon, port = address.rpartition(":")
        if not sep or not colon or not host or not port.isdigit():
            fail(f"--backend {spec!r}: expected PLACEMENT=HOST:PORT")
        if name not in names:
            fail(f"--backend {spec!r}: no placement {name!r} (placements: {', '.join(names)})")
        backends[name] = f"{host}:{port}"
    return backends


def build_config(keys, seed, tiers, dedicated, dedicated_share, backends):
    rng = random.Random(f"placements-{seed}")
    tier_names, dedicated_names = placement_names(tiers, dedicated)
    names = tier_names + dedicated_names
    placements = {}
    for position, name in enumerate(names):
        address = backends.get(name, f"127.0.0.1:{9001 + position}")
        placements[name] = {"url": f"http://{address}", "type": "shared" if name in tier_names else "dedicated"}
    table = {}
    for key in keys:
        group = dedicated_names if dedicated_names and rng.random() < dedicated_share else tier_names
        table[key] = rng.choice(group)
    return {
        "version": f"generated-{len(keys)}-keys-seed-{seed}",
        "routingTable": table,
        "placements": placements,
        "defaultPlacement": tier_names[-1],
    }


def write_keys(path, keys, unknown, key_seed):
    shuffled = list(keys)
    random.Random(f"rotation-{key_seed}").shuffle(shuffled)
    with open(path, "w", encoding="utf-8") as f:
        for key in shuffled:
            f.write(key + "\n")
        for i in range(unknown):
            f.write(f"{UNKNOWN_PREFIX}{i}\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keys", type=int, required=True, help="number of routing keys (e.g. 10000, 100000, 1000000)")
    ap.add_argument("--out", required=True, help="output routing file")
    ap.add_argument("--seed", type=int, default=1, help="placement assignment and version (default 1)")
    ap.add_argument("--key-seed", type=int, default=0, help="routing key names (default 0)")
    ap.add_argument("--tiers", type=int, default=3, help="shared tiers (default 3)")
    ap.add_argument("--dedicated", type=int, default=5, help="dedicated cells (default 5)")
    ap.add_argument("--dedicated-share", type=float, default=0.1,
                    help="fraction of keys on dedicated cells (default 0.1)")
    ap.add_argument("--backend", action="append", default=[], metavar="PLACEMENT=HOST:PORT",
                    help="a placement's backend address (repeatable)")
    ap.add_argument("--keys-out", help="also write the rotation of routing keys to this file")
    ap.add_argument("--unknown-keys", type=int, default=100, help="unknown keys appended to --keys-out (default 100)")
    args = ap.parse_args()

    if args.keys < 0:
        fail("--keys must be >= 0")
    if args.tiers < 1:
        fail("--tiers must be >= 1 (the default placement is a tier)")
    if args.dedicated < 0 or not 0.0 <= args.dedicated_share <= 1.0 or args.unknown_keys < 0:
        fail("--dedicated, --unknown-keys must be >= 0 and --dedicated-share in [0, 1]")
    tier_names, dedicated_names = placement_names(args.tiers, args.dedicated)
    backends = parse_backends(args.backend, tier_names + dedicated_names)

    keys = routing_keys(args.keys, args.key_seed)
    config = build_config(keys, args.seed, args.tiers, args.dedicated, args.dedicated_share, backends)
    # Not atomic: to replace a file a router watches, write elsewhere and rename it into place.
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(config, f, indent=None, separators=(",", ":"))
        f.write("\n")
    if args.keys_out:
        write_keys(args.keys_out, keys, args.unknown_keys, args.key_seed)


if __name__ == "__main__":
    main()
