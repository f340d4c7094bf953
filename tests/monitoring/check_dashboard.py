#!/usr/bin/env python3
"""Checks deploy/monitoring/grafana/dashboards/*.json against what the proxy exports.

Usage: check_dashboard.py SOURCE_DIR

- every dashboard parses, has a uid, a title and a ${datasource} variable, and
  every query panel uses that variable (provisioning-ready: no data source
  uid of one installation baked in);
- every metric a panel or a rule queries is one the proxy exposes (a string
  in proxy/admin/metrics.cc, a limit in proxy/config/config.cc's
  limitGauges, a process_* name in proxy/admin/process_metrics.cc) or a
  recording rule of deploy/monitoring/prometheus/kitgate-rules.yml;
- no panel overlaps another.
Exits 1 with one line per problem.
"""
import json
import pathlib
import re
import sys

root = pathlib.Path(sys.argv[1])
problems = []


def exported():
    names = set(re.findall(r'"(kitgate_[a-z_]+)"', (root / "proxy/admin/metrics.cc").read_text()))
    config = (root / "proxy/config/config.cc").read_text()
    body = config[config.index("limitGauges(const Limits&"):]
    body = body[: body.index("\n}\n")]
    names |= {"kitgate_limit_" + n for n in re.findall(r'\{"([a-z_]+)",', body)}
    names |= set(re.findall(r'"(process_[a-z_]+)"', (root / "proxy/admin/process_metrics.cc").read_text()))
    rules = (root / "deploy/monitoring/prometheus/kitgate-rules.yml").read_text()
    names |= set(re.findall(r"record: ([a-z_:0-9]+)", rules))
    names.add("up")
    return names


def queried(expr):
    out = set()
    expr = re.sub(r'"[^"]*"', '""', expr)  # label values are not metric names
    for m in re.findall(r"\b((?:kitgate|process)[a-z_:0-9]*)", expr):
        out.add(re.sub(r"_(bucket|sum|count)$", "", m) if m.startswith("kitgate_") and "duration" in m else m)
    return out


known = exported()
if len(known) < 30:
    problems.append(f"only {len(known)} exported names found: the source layout changed?")

rules_text = (root / "deploy/monitoring/prometheus/kitgate-rules.yml").read_text()
for expr in re.findall(r"expr: ([^\n|]+)", rules_text) + re.findall(r"expr: \|\n((?:\s{10,}.*\n)+)", rules_text):
    for name in queried(expr):
        if name not in known:
            problems.append(f"kitgate-rules.yml queries {name}, which the proxy does not export")

dashboards = sorted((root / "deploy/monitoring/grafana/dashboards").glob("*.json"))
if not dashboards:
    problems.append("no dashboard in deploy/monitoring/grafana/dashboards")
for path in dashboards:
    try:
        d = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        problems.append(f"{path.name}: not JSON: {e}")
        continue
    for key in ("uid", "title", "panels", "schemaVersion"):
        if not d.get(key):
            problems.append(f"{path.name}: no {key}")
    variables = {v["name"]: v for v in d.get("templating", {}).get("list", [])}
    if variables.get("datasource", {}).get("type") != "datasource":
        problems.append(f"{path.name}: no datasource variable")
    cells = {}
    for p in d.get("panels", []):
        title = p.get("title", "?")
        g = p.get("gridPos", {})
        for yy in range(g.get("y", 0), g.get("y", 0) + g.get("h", 0)):
            for xx in range(g.get("x", 0), g.get("x", 0) + g.get("w", 0)):
                if (xx, yy) in cells:
                    problems.append(f"{path.name}: panel {title!r} overlaps {cells[(xx, yy)]!r}")
                    break
                cells[(xx, yy)] = title
            else:
                continue
            break
        for t in p.get("targets", []):
            if p.get("datasource", {}).get("uid") != "${datasource}" or t.get("datasource", {}).get("uid") != "${datasource}":
                problems.append(f"{path.name}: panel {title!r} does not use ${{datasource}}")
            for name in queried(t.get("expr", "")):
                if name not in known:
                    problems.append(f"{path.name}: panel {title!r} queries {name}, which the proxy does not export")

for p in problems:
    print(p)
sys.exit(1 if problems else 0)
