#!/usr/bin/env python3
"""Generate the benchmark's contender configs from one cellrouter routing file.

cell-router reads the JSON routing file itself; nginx and HAProxy get configs generated here
from the same file, so all three do the same job:

  * route by the X-Routing-Key request header through an exact-match map to a placement, with
    defaultPlacement for unknown keys; a missing or empty key gets 400;
  * forward to that placement's cell over a pool of keep-alive upstream connections;
  * add X-Forwarded-For, X-Forwarded-Proto and X-Request-Id (the client's, or a new one) to the
    upstream request, and X-Routed-To, X-Route-Reason and X-Request-Id to the response;
  * stream bodies both ways (no request buffering, bounded response buffers, nothing on disk);
  * no access log.

It also writes the static backend (one nginx instance with one listener per placement) and the
list of routing keys the load generator rotates through.

  gen-configs.py --config bench/routing.json --out DIR \
      [--backend tier1=127.0.0.1:41001 ...] [--nginx-port N] [--haproxy-port N] \
      [--unknown-keys 2] [--big-bytes 10485760]

Writes, under DIR:
  routing.json            the routing file for cell-router (placement URLs rewritten by --backend)
  nginx/nginx.conf        the nginx contender         (nginx -p DIR/nginx -c nginx.conf)
  haproxy/haproxy.cfg     the HAProxy contender       (haproxy -f haproxy.cfg -db), with
  haproxy/placement.map   routing key -> placement
  haproxy/reason.map      routing key -> route reason
  backend/nginx.conf      the static backend: "ok" on /, a --big-bytes file at /big.bin, and
                          POST /upload: reads the whole body, then "ok"
  backend/www/big.bin
  keys.txt                one routing key a line: every key of routingTable, then unknown keys
  expected.tsv            key, expected X-Routed-To, expected X-Route-Reason
"""

import argparse
import json
import os
import re
import sys
from urllib.parse import urlsplit

NAME_RE = re.compile(r"^[A-Za-z0-9_.:-]+$")


def fail(message):
    print(f"gen-configs: {message}", file=sys.stderr)
    sys.exit(2)


def load_config(path):
    try:
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
    except (OSError, ValueError) as e:
        fail(f"cannot read {path}: {e}")
    table = config.get("routingTable")
    if not isinstance(table, dict):
        fail(f"{path}: no routingTable object")
    if "placements" in config:
        placements = {name: dict(p) for name, p in config["placements"].items()}
    elif "cellEndpoints" in config:
        placements = {name: {"url": url} for name, url in config["cellEndpoints"].items()}
    else:
        fail(f"{path}: neither cellEndpoints nor placements")
    default = config.get("defaultPlacement")
    if default not in placements:
        fail(f"{path}: defaultPlacement {default!r} is not a placement")
    for key, placement in table.items():
        if placement not in placements:
            fail(f"{path}: routingTable/{key} names unknown placement {placement!r}")
        if not key or any(c.isspace() for c in key) or '"' in key or "\\" in key:
            fail(f"{path}: routing key {key!r} cannot be written into the nginx/HAProxy maps")
    for name, p in placements.items():
        if not NAME_RE.match(name):
            fail(f"{path}: placement name {name!r} is not a valid nginx upstream/HAProxy backend name")
        url = urlsplit(p.get("url", ""))
        if url.scheme != "http" or not url.hostname:
            fail(f"{path}: placement {name}: only http:// cells can be benchmarked ({p.get('url')!r})")
    return config, table, placements, default


def reason_of(placement_name, placement):
    """The router's rule: an explicit type wins, else a name starting with 'tier' is shared."""
    kind = placement.get("type")
    if kind == "shared":
        return "tier"
    if kind == "dedicated":
        return "dedicated"
    return "tier" if placement_name.startswith("tier") else "dedicated"


def host_port(url):
    u = urlsplit(url)
    return u.hostname, u.port or 80


def nginx_map_key(key):
    # A leading "~" would make the key a regex and a few words are map parameters; a leading
    # backslash makes either a plain string again.
    if key.startswith("~") or key in ("default", "hostnames", "include", "volatile"):
        return '"\\' + key + '"'
    return '"' + key + '"'


def write(path, text, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(path, mode)


def user_line():
    # Run as root, nginx would switch its workers to "nobody", who cannot enter the private temp
    # directory the benchmark runs in; keep them as the invoking user instead.
    return "user root;\n" if os.geteuid() == 0 else ""


def gen_nginx(out, table, placements, default, port, keepalive, body_buffer, workers):
    lines = []
    lines.append(f"""# Generated by bench/gen-configs.py: the nginx contender. Do not edit.
{user_line()}worker_processes {workers};
worker_rlimit_nofile 20000;
pid {out}/nginx/nginx.pid;
error_log {out}/nginx/error.log warn;

events {{
    # Client and upstream connections together (HAProxy: maxconn 4096).
    worker_connections 4096;
}}

http {{
    access_log off;
    server_tokens off;

    # Client side: keep-alive like cell-router (no per-connection request cap, 60 s idle).
    keepalive_timeout 60s;
    keepalive_requests 1000000;
    client_header_timeout 10s;

    # Bodies stream both ways, as cell-router does: the request body is passed on as it arrives
    # (no spooling to disk first) through a {body_buffer} buffer (cell-router relays through 64 KiB),
    # the response goes through at most 16k + 4 x 64k of buffers per request, and never to a
    # temp file.
    client_max_body_size 0;
    client_body_buffer_size {body_buffer};
    proxy_request_buffering off;
    proxy_buffering on;
    proxy_buffer_size 16k;
    proxy_buffers 4 64k;
    proxy_busy_buffers_size 128k;
    proxy_max_temp_file_size 0;
    client_body_temp_path {out}/nginx/tmp/client_body;
    proxy_temp_path {out}/nginx/tmp/proxy;
    fastcgi_temp_path {out}/nginx/tmp/fastcgi;
    uwsgi_temp_path {out}/nginx/tmp/uwsgi;
    scgi_temp_path {out}/nginx/tmp/scgi;

    # Upstream side: HTTP/1.1 keep-alive pools (see the upstream blocks).
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host $proxy_host;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    proxy_set_header X-Forwarded-Proto $scheme;
    proxy_set_header X-Request-Id $bench_request_id;
    proxy_connect_timeout 5s;
    proxy_read_timeout 30s;
    proxy_send_timeout 60s;

    # routing key -> placement (unknown keys: defaultPlacement)
    map $http_x_routing_key $bench_placement {{
        default {default};""")
    for key, placement in table.items():
        lines.append(f"        {nginx_map_key(key)} {placement};")
    lines.append("    }")
    lines.append("")
    lines.append("    # routing key -> X-Route-Reason")
    lines.append("    map $http_x_routing_key $bench_reason {")
    lines.append("        default default;")
    for key, placement in table.items():
        lines.append(f"        {nginx_map_key(key)} {reason_of(placement, placements[placement])};")
    lines.append("    }")
    lines.append("""
    # X-Request-Id: the client's, or a new random one.
    map $http_x_request_id $bench_request_id {
        "" $request_id;
        default $http_x_request_id;
    }
""")
    for name, p in placements.items():
        host, cport = host_port(p["url"])
        lines.append(f"""    upstream {name} {{
        server {host}:{cport};
        keepalive {keepalive};
        keepalive_requests 1000000;
        keepalive_timeout 60s;
    }}""")
    lines.append(f"""
    server {{
        listen 127.0.0.1:{port} default_server backlog=4096;

        location / {{
            if ($http_x_routing_key = "") {{
                return 400 '{{"error":"missing_routing_key"}}';
            }}
            proxy_pass http://$bench_placement;
            add_header X-Routed-To $bench_placement always;
            add_header X-Route-Reason $bench_reason always;
            add_header X-Request-Id $bench_request_id always;
        }}
    }}
}}
""")
    write(f"{out}/nginx/nginx.conf", "\n".join(lines))
    for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        os.makedirs(f"{out}/nginx/tmp/{sub}", exist_ok=True)


def gen_haproxy(out, table, placements, default, port, workers):
    write(f"{out}/haproxy/placement.map",
          "".join(f"{key} {placement}\n" for key, placement in table.items()))
    write(f"{out}/haproxy/reason.map",
          "".join(f"{key} {reason_of(p, placements[p])}\n" for key, p in table.items()))
    backends = []
    for name, p in placements.items():
        host, cport = host_port(p["url"])
        backends.append(f"""backend {name}
    server {name} {host}:{cport}
""")
    text = f"""# Generated by bench/gen-configs.py: the HAProxy contender. Do not edit.
global
    nbthread {workers}
    maxconn 4096
    # no "log" line: nothing is logged

defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 30s
    timeout http-request 10s
    timeout http-keep-alive 60s
    option http-keep-alive
    # Share idle upstream connections between client connections, like nginx's keepalive pool
    # and cell-router's per-worker pool (the default, "safe", sends each client connection's
    # first request on a connection of its own).
    http-reuse always
    option forwardfor

frontend router
    bind 127.0.0.1:{port} backlog 4096
    acl has_key req.hdr(x-routing-key) -m found
    acl empty_key req.hdr(x-routing-key) -m len 0
    http-request return status 400 content-type application/json string '{{"error":"missing_routing_key"}}' if !has_key or empty_key
    http-request set-var(txn.placement) req.hdr(x-routing-key),map({out}/haproxy/placement.map,{default})
    http-request set-var(txn.reason) req.hdr(x-routing-key),map({out}/haproxy/reason.map,default)
    http-request set-header X-Request-Id %[uuid] unless {{ req.hdr(x-request-id) -m found }}
    http-request set-var(txn.request_id) req.hdr(x-request-id)
    http-request set-header X-Forwarded-Proto http
    use_backend %[var(txn.placement)]
    default_backend {default}
    http-response set-header X-Routed-To %[var(txn.placement)]
    http-response set-header X-Route-Reason %[var(txn.reason)]
    http-response set-header X-Request-Id %[var(txn.request_id)]

""" + "\n".join(backends)
    write(f"{out}/haproxy/haproxy.cfg", text)


def gen_backend(out, placements, big_bytes):
    servers = []
    seen = {}
    for name, p in placements.items():
        host, cport = host_port(p["url"])
        if (host, cport) in seen:
            continue
        seen[(host, cport)] = name
        servers.append(f"""    server {{
        listen {host}:{cport} backlog=4096;
        root {out}/backend/www;
        location / {{
            add_header X-Cell-Name {name};
            return 200 "ok";
        }}
        location = /big.bin {{
            add_header X-Cell-Name {name};
        }}
        # POST /upload reads the whole request body before it answers (the mirror module reads
        # it first), so a proxy in front has really streamed every byte when the answer comes.
        location = /upload {{
            client_body_buffer_size 16m;
            mirror /sink;
            mirror_request_body on;
            log_not_found off;
            error_page 405 =200 @ok;
        }}
        location = /sink {{
            internal;
            return 204;
        }}
        location @ok {{
            add_header X-Cell-Name {name};
            return 200 "ok";
        }}
    }}""")
    text = f"""# Generated by bench/gen-configs.py: the static backend every contender forwards to. Do not edit.
{user_line()}worker_processes 1;
worker_rlimit_nofile 20000;
pid {out}/backend/nginx.pid;
error_log {out}/backend/error.log warn;

events {{
    worker_connections 16384;
}}

http {{
    access_log off;
    server_tokens off;
    default_type application/octet-stream;
    keepalive_timeout 120s;
    keepalive_requests 10000000;
    client_max_body_size 0;
    sendfile on;
    tcp_nopush on;
    client_body_temp_path {out}/backend/tmp/client_body;
    proxy_temp_path {out}/backend/tmp/proxy;
    fastcgi_temp_path {out}/backend/tmp/fastcgi;
    uwsgi_temp_path {out}/backend/tmp/uwsgi;
    scgi_temp_path {out}/backend/tmp/scgi;

""" + "\n".join(servers) + "\n}\n"
    write(f"{out}/backend/nginx.conf", text)
    for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        os.makedirs(f"{out}/backend/tmp/{sub}", exist_ok=True)
    os.makedirs(f"{out}/backend/www", exist_ok=True)
    # /upload exists as a file so that nginx's static handler answers a POST with 405, which
    # error_page turns into the 200 of @ok (after the mirror module has read the body).
    write(f"{out}/backend/www/upload", "")
    big = f"{out}/backend/www/big.bin"
    if not os.path.exists(big) or os.path.getsize(big) != big_bytes:
        block = (b"0123456789abcdef" * 4096)  # 64 KiB
        with open(big, "wb") as f:
            left = big_bytes
            while left > 0:
                n = min(left, len(block))
                f.write(block[:n])
                left -= n
        os.chmod(big, 0o644)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", required=True, help="cellrouter routing file (cellEndpoints or placements)")
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--backend", action="append", default=[], metavar="PLACEMENT=HOST:PORT",
                    help="point this placement at HOST:PORT (repeatable)")
    ap.add_argument("--nginx-port", type=int, default=8090)
    ap.add_argument("--haproxy-port", type=int, default=8091)
    ap.add_argument("--nginx-keepalive", type=int, default=1024,
                    help="idle keep-alive connections nginx keeps per upstream (default 1024)")
    ap.add_argument("--nginx-body-buffer", default="64k",
                    help="nginx client_body_buffer_size: the chunk a request body is relayed in (default 64k)")
    ap.add_argument("--unknown-keys", type=int, default=2,
                    help="how many keys absent from routingTable the load rotates through too")
    ap.add_argument("--big-bytes", type=int, default=10 * 1024 * 1024)
    ap.add_argument("--workers", type=int, default=1,
                    help="nginx worker processes and HAProxy threads (cell-router's --threads)")
    args = ap.parse_args()

    config, table, placements, default = load_config(args.config)
    for spec in args.backend:
        name, sep, addr = spec.partition("=")
        if not sep or name not in placements or ":" not in addr:
            fail(f"--backend {spec!r}: expected PLACEMENT=HOST:PORT with a known placement")
        placements[name]["url"] = f"http://{addr}"
        if "placements" in config:
            config["placements"][name]["url"] = f"http://{addr}"
        else:
            config["cellEndpoints"][name] = f"http://{addr}"

    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    write(f"{out}/routing.json", json.dumps(config, indent=2) + "\n")
    gen_nginx(out, table, placements, default, args.nginx_port, args.nginx_keepalive, args.nginx_body_buffer,
              args.workers)
    gen_haproxy(out, table, placements, default, args.haproxy_port, args.workers)
    gen_backend(out, placements, args.big_bytes)

    keys = list(table.keys())
    unknown = [f"zz-unknown-{i}" for i in range(1, args.unknown_keys + 1)]
    for key in unknown:
        if key in table:
            fail(f"unknown key {key!r} is in routingTable")
    write(f"{out}/keys.txt", "".join(k + "\n" for k in keys + unknown))
    rows = [(k, table[k], reason_of(table[k], placements[table[k]])) for k in keys]
    rows += [(k, default, "default") for k in unknown]
    write(f"{out}/expected.tsv", "".join("\t".join(r) + "\n" for r in rows))
    print(f"gen-configs: wrote {out}/{{routing.json,nginx/,haproxy/,backend/,keys.txt,expected.tsv}}")


if __name__ == "__main__":
    main()
