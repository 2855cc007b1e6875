#!/usr/bin/env python3
"""What N idle keep-alive client connections cost a proxy in memory.

Measures the resident memory of the given processes (VmRSS summed over --pid), then opens
--count connections to 127.0.0.1:--port, sends one GET on each (X-Routing-Key rotating over
--keys) and reads its response completely, so every connection has served a request and sits
idle in keep-alive, as a browser's or a client library's would. After --settle seconds it
measures again, closes everything and prints one line:

  idle before_kib=<n> after_kib=<n> delta_kib=<n> per_conn_bytes=<n> ok=<n> failed=<n>

  idle-conns.py --port 8080 --pid 1234 [--pid 1235] --keys keys.txt [--count 1000]
"""

import argparse
import socket
import sys
import time


def rss_kib(pids):
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


def read_response(sock, buf):
    """Read one HTTP/1.1 response with a Content-Length (or chunked) body; return leftover."""
    while b"\r\n\r\n" not in buf:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("closed before the response header")
        buf += data
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = None
    chunked = False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value.strip())
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if chunked:
        while not rest.endswith(b"0\r\n\r\n"):
            data = sock.recv(65536)
            if not data:
                raise ConnectionError("closed inside a chunked body")
            rest += data
        return status, b""
    length = length or 0
    while len(rest) < length:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("closed inside the body")
        rest += data
    return status, rest[length:]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--pid", type=int, action="append", required=True,
                    help="a process of the proxy (repeat for each: nginx master and worker)")
    ap.add_argument("--keys", required=True, help="routing keys, one a line")
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--path", default="/")
    ap.add_argument("--settle", type=float, default=1.0)
    ap.add_argument("--timeout", type=float, default=10.0)
    args = ap.parse_args()

    with open(args.keys) as f:
        keys = [line.strip() for line in f if line.strip()]
    if not keys:
        sys.exit("idle-conns: no routing keys")

    before = rss_kib(args.pid)
    socks = []
    ok = failed = 0
    try:
        for i in range(args.count):
            try:
                s = socket.create_connection((args.host, args.port), timeout=args.timeout)
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                request = (f"GET {args.path} HTTP/1.1\r\nHost: {args.host}:{args.port}\r\n"
                           f"X-Routing-Key: {keys[i % len(keys)]}\r\n\r\n").encode()
                s.sendall(request)
                status, _ = read_response(s, b"")
                socks.append(s)
                if 200 <= status < 300:
                    ok += 1
                else:
                    failed += 1
            except OSError as e:
                failed += 1
                print(f"idle-conns: connection {i}: {e}", file=sys.stderr)
        time.sleep(args.settle)
        after = rss_kib(args.pid)
    finally:
        for s in socks:
            s.close()
    delta = after - before
    per_conn = int(delta * 1024 / max(ok, 1))
    print(f"idle before_kib={before} after_kib={after} delta_kib={delta} "
          f"per_conn_bytes={per_conn} ok={ok} failed={failed}")


if __name__ == "__main__":
    main()
