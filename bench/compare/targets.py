#!/usr/bin/env python3
"""kitgate-vs-peers.md from one harness run: the issue-2 §6 targets table + the harness table.

Figures are computed from the harness's raw pb records exactly as ../shared/bench/lib/report.py
computes its table cells (median over repetitions):
  proxy µs/request  = pb cpu.proxy_us_per_req (proxy CPU time of the daemon's session / requests)
  p99               = pb lat_us.p99
  proxy CPU s/GiB   = proxy_us_per_req * requests / 1e6 / (body_bytes / 2**30)
  KiB/tunnel        = idle[i].proxy.pss_per_conn_kb, only when all target tunnels were established

Usage: targets.py --raw RAW.jsonl --table TABLE.md [--kitgate NAME] [--commit C] [--params "..."]
"""
import argparse
import json
import statistics
from collections import defaultdict

ap = argparse.ArgumentParser()
ap.add_argument("--raw", required=True)
ap.add_argument("--table", required=True)
ap.add_argument("--kitgate", default="kitgate")
ap.add_argument("--commit", default="unknown")
ap.add_argument("--params", default="")
args = ap.parse_args()

kNotPeers = {"direct", args.kitgate}  # direct = no proxy (an upper bound, not a peer)
kRelays = {"haproxy", "socat"}  # TCP relays without CONNECT or HTTP forwarding

cells = defaultdict(list)  # (scen, peer) -> [pb dict]
failed = defaultdict(int)
for line in open(args.raw):
    if not line.strip():
        continue
    r = json.loads(line)
    if r.get("failed"):
        failed[(r["scen"], r["peer"])] += 1
    else:
        cells[(r["scen"], r["peer"])].append(r["pb"])


def us_per_req(d):
    return d["cpu"]["proxy_us_per_req"]


def p99_ms(d):
    return d["lat_us"]["p99"] / 1000


def s_per_gib(d):
    return d["cpu"]["proxy_us_per_req"] * d["requests"] / 1e6 / (d["body_bytes"] / 2**30)


def kib_at(target):
    def f(d):
        for ck in d.get("idle", []):
            if ck["target"] == target:
                return ck["proxy"]["pss_per_conn_kb"] if ck["established"] == ck["target"] else None
        return None
    return f


def values(scen, peer, fn):
    out = []
    for d in cells.get((scen, peer), []):
        try:
            v = fn(d)
        except (KeyError, TypeError, ZeroDivisionError):
            v = None
        if v is not None:
            out.append(v)
    return out


def median(scen, peer, fn):
    v = values(scen, peer, fn)
    return statistics.median(v) if v else None


def spread(scen, peer, fn, nd):
    v = values(scen, peer, fn)
    if not v:
        return "n/a"
    m = f"{statistics.median(v):,.{nd}f}"
    return m if len(v) == 1 else f"{m} ({min(v):,.{nd}f}–{max(v):,.{nd}f})"


def best_peer(scen, fn, exclude=()):
    best = None
    for (s, p) in cells:
        if s != scen or p in kNotPeers or p in exclude:
            continue
        m = median(s, p, fn)
        if m is not None and (best is None or m < best[1]):
            best = (p, m)
    return best


def errors(scen, peer):
    n = sum(d.get("errors", 0) for d in cells.get((scen, peer), []))
    f = failed.get((scen, peer), 0)
    return f"{n}" + (f", {f} runs failed" if f else "")


def verdict(value, limit):
    if value is None or limit is None:
        return "not measured"
    if value <= limit:
        return "met"
    return f"missed by {value - limit:,.3g} ({value / limit:.2f}× the target)"


K = args.kitgate
rows = []  # (scenario, figure, kitgate cell, best peer cell, target text, verdict, errors)


def target_row(scen, title, fn, nd, limit, target_text, exclude=()):
    k = median(scen, K, fn)
    b = best_peer(scen, fn, exclude)
    bcell = "n/a" if b is None else f"{b[1]:,.{nd}f} ({b[0]})"
    rows.append((scen, title, spread(scen, K, fn, nd), bcell, target_text, verdict(k, limit), errors(scen, K)))


target_row("a", "CONNECT keep-alive, small responses: proxy µs/request", us_per_req, 1, 12, "≤ 12")
hap = median("a", "haproxy", p99_ms)
rows.append(("a", "same: p99 latency ms", spread("a", K, p99_ms, 2),
             "n/a" if hap is None else f"{hap:,.2f} (haproxy)",
             "≤ haproxy's", verdict(median("a", K, p99_ms), hap), errors("a", K)))
target_row("b2", "new CONNECT tunnel per request: proxy µs/tunnel", us_per_req, 1, 90, "≤ 90")
target_row("c", "1 GiB through one tunnel: proxy CPU s/GiB", s_per_gib, 3, 0.25, "≤ 0.25")
# (d): the relays get origin-form requests (no forwarding at all), so only forward proxies compete
target_row("d", "plain-HTTP forward, keep-alive: proxy µs/request (forward proxies only)", us_per_req, 1, 30,
           "≤ 30", exclude=kRelays)
target_row("f", "idle tunnels: KiB/tunnel (PSS) at 9,000", kib_at(9000), 1, 4, "≤ 4")

P = []
w = P.append
w("# kitgate-proxy next to peer proxies (loopback harness, this box)")
w("")
w(f"kitgate commit {args.commit}; {args.params}. Written by `bench/compare/run.sh` from the shared")
w("harness (`../shared/bench/run-peers.sh`, kitgate added as `EXTRA_PEER_NAME=kitgate`); raw pb records")
w(f"and the harness's own table are in `bench/results/runs/` (`{args.raw.rsplit('/', 1)[-1]}`).")
w("")
w("## Targets (issue 2 §6)")
w("")
w("Median over repetitions (min–max in brackets). Best peer = the lowest median among the peers in this")
w("run (haproxy is a plain TCP relay without CONNECT; `direct` is excluded). Lower is better everywhere.")
w("")
w("| scenario | figure | kitgate | best peer | target | status | kitgate errors |")
w("|---|---|---|---|---|---|---|")
for r in rows:
    w("| " + " | ".join(str(x) for x in r) + " |")
w("")
w("## Harness table")
w("")
with open(args.table) as t:
    P.append(t.read().rstrip("\n"))
print("\n".join(P))
