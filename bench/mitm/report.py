#!/usr/bin/env python3
"""bench/mitm/report.py - the interception benchmark table (bench/results/kitgate-mitm.md) from
the raw pb lines bench/mitm/run.sh wrote: medians (min-max) per scenario for squid ssl_bump and
kitgate, and the issue-4 targets marked met / missed."""
import argparse
import json
import statistics


def load(path):
    rows = [json.loads(line) for line in open(path) if line.strip()]
    return [r for r in rows if not r.get("failed")], [r for r in rows if r.get("failed")]


def values(rows, scen, peer, fn):
    out = []
    for r in rows:
        if r["scen"] == scen and r["peer"] == peer:
            try:
                v = fn(r["pb"])
            except (KeyError, IndexError, ZeroDivisionError, TypeError):
                v = None
            if v is not None:
                out.append(v)
    return out


def med(v):
    return statistics.median(v) if v else None


def fmt(v, nd):
    return "n/a" if not v else f"{med(v):,.{nd}f} ({min(v):,.{nd}f}-{max(v):,.{nd}f})"


def us_per_req(d):
    return d["cpu"]["proxy_us_per_req"] if d["errors"] == 0 else None


def s_per_gib(d):
    if d["errors"] != 0 or d["body_bytes"] < 2**30 * 0.9:
        return None
    return d["cpu"]["proxy_us_per_req"] * d["requests"] / 1e6 / (d["body_bytes"] / 2**30)


def idle_kib(d):
    # pb divides by the connections established; a cell that lost more than 1% is not used.
    i = d["idle"][0]
    return i["proxy"]["pss_per_conn_kb"] if i["established"] >= 0.99 * i["target"] else None


def rps(d):
    return d["rps"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw", required=True)
    ap.add_argument("--commit", default="?")
    ap.add_argument("--backend", default="?")
    ap.add_argument("--params", default="")
    ap.add_argument("--reps", default="", help="only these repetitions (comma separated)")
    ap.add_argument("--note", default="", help="a paragraph to print under the title")
    a = ap.parse_args()
    rows, failed = load(a.raw)
    if a.reps:
        keep = {int(x) for x in a.reps.split(",")}
        rows = [r for r in rows if r["rep"] in keep]
        failed = [r for r in failed if r["rep"] in keep]
    w = print

    w("# kitgate TLS interception vs squid ssl_bump (loopback, same run)")
    w()
    w(f"kitgate commit {a.commit}, TLS backend {a.backend}; {a.params}. Raw pb output: `{a.raw.split('/bench/')[-1]}`.")
    w("Produced by `bench/mitm/run.sh` (shared harness: pb load generator, nginx origin, squid 5.7")
    w("`ssl_bump` with `workers 2`; kitgate `workers: 2`, one credential route bound to the origin host,")
    w("so every connection is intercepted and gets a header injected). Load generator, origin and proxy")
    w("share the 2 cores: the comparable figure is the proxy's own CPU time per unit of work.")
    w()
    if a.note:
        w(a.note)
        w()
    w("| scenario | squid ssl_bump | kitgate | target | result |")
    w("|---|---|---|---|---|")

    def row(label, scen, fn, nd, target_text, check):
        """check(kitgate_median, squid_median or None) -> (met, how)."""
        sq = values(rows, scen, "squid-bump", fn)
        kg = values(rows, scen, "kitgate", fn)
        verdict = "n/a"
        if kg:
            try:
                ok, how = check(med(kg), med(sq))
                verdict = ("met" if ok else "missed") + f" ({how})"
            except TypeError:  # a relative target without a squid figure
                pass
        w(f"| {label} | {fmt(sq, nd)} | {fmt(kg, nd)} | {target_text} | {verdict} |")

    row("(e) keep-alive, small responses: proxy µs/request", "e", us_per_req, 1, "≤ 40",
        lambda k, s: (k <= 40, f"{k:.1f} µs"))
    row("new connection per request (full handshakes both legs): proxy CPU µs/connection", "n", us_per_req, 0,
        "≤ 0.6× squid", lambda k, s: (k <= 0.6 * s, f"{k / s:.2f}× squid"))
    row("idle intercepted connections @1,000: KiB (PSS) each", "f", idle_kib, 1, "≤ 40",
        lambda k, s: (k <= 40, f"{k:.1f} KiB"))
    row("1 GiB download through interception: proxy CPU s/GiB", "c", s_per_gib, 3, "≤ 0.7× squid",
        lambda k, s: (k <= 0.7 * s, f"{k / s:.2f}× squid"))
    w()
    w("Whole-box throughput in the same cells (not a proxy figure: the 2 cores are shared):")
    w()
    w("| scenario | squid ssl_bump | kitgate |")
    w("|---|---|---|")
    for label, scen in (("(e) req/s", "e"), ("new connection per request: conn/s", "n")):
        w(f"| {label} | {fmt(values(rows, scen, 'squid-bump', rps), 0)} | {fmt(values(rows, scen, 'kitgate', rps), 0)} |")
    gb = lambda d: d["body_gbit_s"]
    w(f"| 1 GiB download: Gbit/s | {fmt(values(rows, 'c', 'squid-bump', gb), 2)} | {fmt(values(rows, 'c', 'kitgate', gb), 2)} |")
    if failed:
        w()
        w("Failed cells: " + ", ".join(f"{r['scen']}/{r['peer']}/rep{r['rep']} (rc {r['rc']})" for r in failed))
    errs = [f"{r['scen']}/{r['peer']}/rep{r['rep']}: {r['pb']['errors']} errors {r['pb']['err']}"
            for r in rows if r["pb"]["errors"]]
    if errs:
        w()
        w("Cells with request errors (excluded from the CPU medians; an idle cell counts when ≥ 99% of its connections were established): " + "; ".join(errs))


if __name__ == "__main__":
    main()
