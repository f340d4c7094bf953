// `kitgate policy allow | deny | ls | check | log` (kit-spec §4.6-§4.8), on
// the same files and rule grammar kitgate-proxy uses: rules are parsed by
// policy::parseRule, `check` evaluates with sandbox::loadRegistry's Policy,
// `log` reads the proxy's JSON-lines policy log (and its rotations). The
// state is read and written through stateops::StateService (the state
// directory as root, the root kitgate daemon for a docker-group user); this
// file parses flags and prints.
#include "orchestrator/cli/policy_command.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <ostream>
#include <set>
#include <thread>

#include "orchestrator/cli/secret_command.h"
#include "orchestrator/cli/state_cli.h"
#include "orchestrator/state/policy_log.h"
#include "orchestrator/state/state.h"
#include "orchestrator/stateops/policy_ops.h"
#include "orchestrator/stateops/service.h"
#include "proxy/policy/host.h"

namespace kitgate::cli {

namespace {

constexpr std::string_view kCmd = "policy";

constexpr std::string_view kUsage =
    "Usage: kitgate policy <allow|deny|ls|check|log> ...\n\n"
    "Commands:\n"
    "  allow network [-g | --sandbox N] RESOURCES   add allow rules\n"
    "  deny network [-g | --sandbox N] RESOURCES    add deny rules (deny beats allow)\n"
    "  rm network [-g | --sandbox N] --resource R [-f]   remove rules (allow or deny)\n"
    "  ls [--json]                                  every rule and where it comes from\n"
    "  check network [--sandbox N] TARGET [--json]  would TARGET (host[:port]) be allowed?\n"
    "  log [SANDBOX] [--summary] [--json] [-f] ...  what the proxy allowed and blocked\n\n"
    "Run 'kitgate policy <command> --help' for details.\n";

constexpr std::string_view kRuleUsage =
    "Usage: kitgate policy allow|deny network [-g | --sandbox NAME] RESOURCES...\n\n"
    "Adds rules to the global policy (<state>/policy.yaml, default) or to one\n"
    "sandbox, then reloads the proxy. RESOURCES are comma-separated or repeated:\n"
    "  example.com         that host only, every port\n"
    "  *.example.com       one more label;  **.example.com  any depth\n"
    "  api?.example.com    glob characters inside a label;  **  every host\n"
    "  host:443            one port (no port = every port)\n"
    "  10.0.0.0/8:5432     IP literals and CIDRs ([v6] in brackets)\n"
    "Deny beats allow. Private and loopback addresses need an IP/CIDR allow rule.\n\n"
    "Examples:\n"
    "  kitgate policy allow network \"registry.npmjs.org:443,**.githubusercontent.com:443\"\n"
    "  kitgate policy deny network --sandbox dev1 gist.github.com\n"
    "  kitgate policy allow network -g 10.0.0.0/8:5432\n";

constexpr std::string_view kRmUsage =
    "Usage: kitgate policy rm network [-g | --sandbox NAME] --resource R[,R...] [-f]\n\n"
    "Removes the rules written exactly R (allow and deny alike) from the global\n"
    "policy (default: omitting --sandbox means global) or from one sandbox, then\n"
    "reloads the proxy. Asks first unless -f.\n\n"
    "Examples:\n"
    "  kitgate policy rm network --resource registry.npmjs.org:443 -f\n"
    "  kitgate policy rm network --sandbox dev1 --resource gist.github.com\n";

constexpr std::string_view kLsUsage =
    "Usage: kitgate policy ls [--json]\n\n"
    "Lists every rule: SCOPE DECISION RULE SOURCE (global rules from proxy.yaml\n"
    "and policy.yaml, then each sandbox's rules).\n\n"
    "Examples:\n"
    "  kitgate policy ls\n"
    "  kitgate policy ls --json\n";

constexpr std::string_view kCheckUsage =
    "Usage: kitgate policy check network [--sandbox NAME] TARGET [--json]\n\n"
    "Evaluates TARGET (host, host:port, IP, [v6]:port; default port 443) with the\n"
    "proxy's own policy code against the rules in the state directory: the global\n"
    "rules, plus the sandbox's with --sandbox. Prints allowed/blocked, the deciding\n"
    "rule and the reason. Exit 0 allowed, 1 blocked. Addresses come from\n"
    "proxy.yaml's dns.hosts only (no DNS lookup): a name that only an IP/CIDR\n"
    "rule could allow is reported as 'depends on its address'.\n\n"
    "Examples:\n"
    "  kitgate policy check network ampcode.com\n"
    "  kitgate policy check network --sandbox dev1 github.com:22\n";

constexpr std::string_view kLogUsage =
    "Usage: kitgate policy log [SANDBOX] [--decision allowed|blocked] [--host HOST]\n"
    "                          [--summary] [--json] [--limit N] [-q] [-f]\n\n"
    "Summarises the proxy's policy log (<state>/policy.log and its rotations\n"
    "policy.1.log, policy.2.log, ...): blocked requests first, then allowed ones,\n"
    "aggregated per sandbox, type, host:port, proxy path, rule and reason, with the\n"
    "last time seen and a count. A connection counts once (its open and close\n"
    "lines are paired by id).\n\n"
    "Options:\n"
    "  --sandbox S  only sandbox S (same as the SANDBOX argument)\n"
    "  --decision D only allowed or only blocked decisions\n"
    "  --host H     only host H and the names below it (H=example.com keeps api.example.com)\n"
    "  --summary    one row per host:port and decision: count and last seen\n"
    "  --json       the rows as a JSON array (with -f: one JSON object per line)\n"
    "  --limit N    at most N rows\n"
    "  -q           host:port only, one per line (blocked first)\n"
    "  -f           follow: print the connections open now, then each decision as it\n"
    "               is logged: 'open' when taken, 'close' with bytes, duration and\n"
    "               error when it ends (Ctrl-C stops)\n\n"
    "Examples:\n"
    "  kitgate policy log\n"
    "  kitgate policy log amp --limit 20\n"
    "  kitgate policy log --decision blocked --summary\n"
    "  kitgate policy log --host github.com -f\n"
    "  kitgate policy log -q | sort -u\n";

// The -g/--sandbox flags (sandbox may also be written as `--sandbox=N`).
bool scopeFlag(ArgCursor& c, bool* global, std::string* sandbox, std::string* error) {
  if (c.flag({"-g", "--global"})) {
    *global = true;
  } else if (!c.option({"--sandbox"}, sandbox, error)) {
    return false;
  } else if (error->empty() && !state::validSandboxName(*sandbox)) {
    *error = "invalid sandbox name \"" + *sandbox + "\"";
  }
  if (error->empty() && *global && !sandbox->empty())
    *error = "-g and --sandbox exclude each other";
  return true;
}

using stateops::Outcome;

// Prints what a change had to say: notes, done, then the reload failure or
// the warnings. Returns the exit code.
int report(Io& io, const StatusOr<Outcome>& outcome) {
  if (!outcome) return fail(io, kCmd, outcome.status().message());
  for (const std::string& n : outcome->notes) io.err << "note: " << n << "\n";
  io.out << outcome->done << "\n";
  if (!outcome->reload_error.empty()) return fail(io, kCmd, "saved, but " + outcome->reload_error);
  for (const std::string& w : outcome->warnings) io.err << "WARN: " << w << "\n";
  return kExitOk;
}

// ---- allow / deny ---------------------------------------------------------------

int runRule(const Args& args, Io& io, bool allow) {
  ArgCursor c(args, 1);
  bool global = false;
  std::string sandbox_name, error;
  std::vector<std::string> resources;
  bool saw_type = false;
  while (!c.done() && error.empty()) {
    if (isHelpFlag(c.peek())) {
      io.out << kRuleUsage;
      return kExitOk;
    }
    if (scopeFlag(c, &global, &sandbox_name, &error)) continue;
    if (c.peek().size() > 1 && c.peek()[0] == '-') {
      error = "unknown option " + c.next();
    } else if (!saw_type) {
      saw_type = true;
      std::string type = c.next();
      if (type != "network") error = "only 'network' rules exist (got \"" + type + "\")";
    } else {
      splitList(c.next(), &resources);
    }
  }
  if (error.empty() && !saw_type) error = "say which kind of rule: 'network'";
  if (error.empty() && resources.empty()) error = "no RESOURCES given";
  if (!error.empty()) return usageError(io, kCmd, kRuleUsage, error);

  if (Status st = stateops::checkRules(resources); !st) return fail(io, kCmd, st.message());
  auto state = openStateService();
  if (!state) return fail(io, kCmd, state.status().message());
  return report(io, (*state)->addRules(allow, sandbox_name, resources));
}

// ---- rm -------------------------------------------------------------------------

int runRm(const Args& args, Io& io) {
  ArgCursor c(args, 1);
  bool global = false, force = false, saw_type = false;
  std::string sandbox_name, error, v;
  std::vector<std::string> resources;
  while (!c.done() && error.empty()) {
    if (isHelpFlag(c.peek())) {
      io.out << kRmUsage;
      return kExitOk;
    }
    if (scopeFlag(c, &global, &sandbox_name, &error)) continue;
    if (c.flag({"-f", "--force"})) {
      force = true;
    } else if (c.option({"--resource"}, &v, &error)) {
      splitList(v, &resources);
    } else if (c.peek().size() > 1 && c.peek()[0] == '-') {
      error = "unknown option " + c.next();
    } else if (!saw_type) {
      saw_type = true;
      if (std::string t = c.next(); t != "network")
        error = "only 'network' rules exist (got \"" + t + "\")";
    } else {
      error = "unexpected argument " + c.next() + " (name rules with --resource)";
    }
  }
  if (error.empty() && !saw_type) error = "say which kind of rule: 'network'";
  if (error.empty() && resources.empty())
    error = "at least one selector is required: use --resource";
  if (!error.empty()) return usageError(io, kCmd, kRmUsage, error);

  auto state = openStateService();
  if (!state) return fail(io, kCmd, state.status().message());
  auto found = (*state)->removeRules(sandbox_name, resources, /*dry_run=*/true);
  if (!found) return fail(io, kCmd, found.status().message());
  if (!force) {
    if (!stdinIsTerminal())
      return fail(io, kCmd, "stdin is not a terminal; use --force to skip confirmation");
    const std::string where =
        sandbox_name.empty() ? "the global policy" : "sandbox " + sandbox_name;
    if (!confirm(io, "Remove network rules from " + where + "?")) {
      io.out << "Nothing removed.\n";
      return kExitFailed;
    }
  }
  return report(io, (*state)->removeRules(sandbox_name, resources, /*dry_run=*/false));
}

// ---- ls -------------------------------------------------------------------------

int runLs(const Args& args, Io& io) {
  bool json = false;
  for (size_t i = 1; i < args.size(); ++i) {
    if (isHelpFlag(args[i])) {
      io.out << kLsUsage;
      return kExitOk;
    }
    if (args[i] != "--json")
      return usageError(io, kCmd, kLsUsage, "unexpected argument " + args[i]);
    json = true;
  }
  auto state = openStateService();
  if (!state) return fail(io, kCmd, state.status().message());
  auto listing = (*state)->listRules();
  if (!listing) return fail(io, kCmd, listing.status().message());
  const nlohmann::json rows = nlohmann::json::parse(*listing, nullptr, false);
  if (!rows.is_array()) return fail(io, kCmd, "the rule listing is not a JSON array");
  if (json) {
    io.out << rows.dump(2) << "\n";
    return kExitOk;
  }
  if (rows.empty()) {
    io.out
        << "No rules: every destination is blocked (kitgate policy allow network HOST adds one).\n";
    return kExitOk;
  }
  std::vector<std::vector<std::string>> table;
  for (const auto& r : rows) {
    table.push_back({r.value("scope", ""), r.value("decision", ""), r.value("rule", ""),
                     r.value("source", "")});
  }
  printTable(io.out, io.out_color, {"SCOPE", "DECISION", "RULE", "SOURCE"}, table);
  return kExitOk;
}

// ---- check ------------------------------------------------------------------------

int runCheck(const Args& args, Io& io) {
  ArgCursor c(args, 1);
  bool json = false, saw_type = false;
  std::string sandbox_name, target, error;
  while (!c.done() && error.empty()) {
    if (isHelpFlag(c.peek())) {
      io.out << kCheckUsage;
      return kExitOk;
    }
    if (c.flag({"--json"})) {
      json = true;
    } else if (c.option({"--sandbox"}, &sandbox_name, &error)) {
    } else if (c.peek().size() > 1 && c.peek()[0] == '-') {
      error = "unknown option " + c.next();
    } else if (!saw_type) {
      saw_type = true;
      if (std::string t = c.next(); t != "network")
        error = "only 'network' can be checked (got \"" + t + "\")";
    } else if (target.empty()) {
      target = c.next();
    } else {
      error = "unexpected argument " + c.next();
    }
  }
  if (error.empty() && target.empty()) error = "check needs 'network TARGET'";
  std::string host_text;
  uint16_t port = 443;
  if (error.empty() && !stateops::splitTarget(target, &host_text, &port))
    error = "TARGET must be host[:port]";
  if (!error.empty()) return usageError(io, kCmd, kCheckUsage, error);
  auto host = policy::normalizeHost(host_text);
  if (!host)
    return fail(io, kCmd, "invalid host \"" + host_text + "\": " + host.status().message());

  if (!sandbox_name.empty() && !state::validSandboxName(sandbox_name))
    return fail(io, kCmd, "invalid sandbox name \"" + sandbox_name + "\"");
  auto state = openStateService();
  if (!state) return fail(io, kCmd, state.status().message());
  auto verdict = (*state)->checkTarget(sandbox_name, target);
  if (!verdict) return fail(io, kCmd, verdict.status().message());
  const nlohmann::json j = nlohmann::json::parse(*verdict, nullptr, false);
  if (!j.is_object()) return fail(io, kCmd, "the verdict is not a JSON object");
  const bool allowed = j.value("allowed", false);
  if (json) {
    io.out << j.dump(2) << "\n";
  } else {
    const char* color = allowed ? "\033[32m" : "\033[31m";
    const std::string rule = j.value("rule", "");
    const std::string reason = j.value("reason", "");
    io.out << (io.out_color ? color : "") << j.value("decision", "")
           << (io.out_color ? "\033[0m" : "") << ": " << j.value("target", "") << " ("
           << j.value("scope", "") << ")\n";
    io.out << "  rule:   " << (rule.empty() ? "(default)" : rule) << "\n";
    io.out << "  reason: " << (reason.empty() ? "-" : reason) << "\n";
    if (j.contains("note")) io.out << "  note:   " << j.value("note", "") << "\n";
  }
  return allowed ? kExitOk : kExitFailed;
}

// ---- log ----------------------------------------------------------------------------

std::string ms(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f ms", v);
  return buf;
}

// One line per event: "open" when the decision is taken, "close" with what
// the connection did; a record without an event is a closed decision.
std::string followLine(const state::LogEntry& e) {
  std::string line = e.time + "  " + (e.event.empty() ? std::string("-") : e.event) + "  " +
                     e.sandbox + "  " + e.decision + "  " + e.type + "  " + e.hostPort() + "  " +
                     (e.rule.empty() ? "-" : e.rule) + "  " + e.reason;
  if (!e.client.empty()) line += "  from " + e.client;
  if (!e.isOpen()) {
    line += "  up " + std::to_string(e.bytes_up) + " B, down " + std::to_string(e.bytes_down) +
            " B, " + ms(e.duration_ms);
    if (!e.error.empty()) line += "  error: " + e.error;
  }
  return line;
}

nlohmann::json entryJson(const state::LogEntry& e) {
  nlohmann::json j = {{"time", e.time},
                      {"event", e.event.empty() ? "close" : e.event},
                      {"id", e.id},
                      {"client", e.client},
                      {"sandbox", e.sandbox},
                      {"type", e.type},
                      {"method", e.method},
                      {"host", e.hostPort()},
                      {"address", e.address},
                      {"decision", e.decision},
                      {"rule", e.rule},
                      {"reason", e.reason},
                      {"proxy", e.proxy},
                      {"status", e.status},
                      {"error", e.error},
                      {"bytes_up", e.bytes_up},
                      {"bytes_down", e.bytes_down},
                      {"duration_ms", e.duration_ms}};
  for (auto [key, v] : {std::pair{"dns_ms", e.dns_ms}, std::pair{"connect_ms", e.connect_ms},
                        std::pair{"tls_ms", e.tls_ms}}) {
    if (v >= 0) j[key] = v;
  }
  if (!e.opened.empty()) j["opened"] = e.opened;
  return j;
}

void printEntries(const std::vector<state::LogEntry>& entries, bool json, Io& io) {
  for (const auto& e : entries) io.out << (json ? entryJson(e).dump() : followLine(e)) << "\n";
  io.out.flush();
}

// Prints the connections open now, then every new line of the log until
// interrupted (it starts at the log's current end).
int followLog(const std::string& path, const state::LogFilter& filter, bool json, Io& io) {
  // Start at the current end (0 when the log does not exist yet).
  std::streamoff offset = 0;
  if (std::ifstream in(path, std::ios::binary | std::ios::ate); in) offset = in.tellg();
  std::vector<state::LogEntry> open;
  for (auto& e : state::pairConnections(state::readPolicyLog(path, filter))) {
    if (e.isOpen()) open.push_back(std::move(e));
  }
  io.err << "Following " << path << ": " << open.size() << " connection(s) open (Ctrl-C stops)\n"
         << std::flush;
  printEntries(open, json, io);
  std::string partial;
  while (true) {
    std::ifstream in(path, std::ios::binary);
    if (in) {
      in.seekg(0, std::ios::end);
      std::streamoff size = in.tellg();
      if (size < offset) offset = 0;  // rotated: the new file is read from its start
      if (size > offset) {
        in.seekg(offset);
        std::string chunk(static_cast<size_t>(size - offset), '\0');
        in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
        offset = size;
        partial += chunk;
        size_t nl = partial.rfind('\n');
        if (nl != std::string::npos) {
          std::vector<state::LogEntry> entries;
          state::parseLogText(std::string_view(partial).substr(0, nl), filter, &entries);
          printEntries(entries, json, io);
          partial.erase(0, nl + 1);
        }
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
}

int runLog(const Args& args, Io& io) {
  ArgCursor c(args, 1);
  bool json = false, quiet = false, follow = false, summary = false;
  std::string sandbox_name, limit_text, error;
  state::LogFilter filter;
  while (!c.done() && error.empty()) {
    if (isHelpFlag(c.peek())) {
      io.out << kLogUsage;
      return kExitOk;
    }
    if (c.flag({"--json"})) {
      json = true;
    } else if (c.flag({"-q", "--quiet"})) {
      quiet = true;
    } else if (c.flag({"-f", "--follow"})) {
      follow = true;
    } else if (c.flag({"--summary"})) {
      summary = true;
    } else if (c.option({"--decision"}, &filter.decision, &error)) {
      if (error.empty() && filter.decision != "allowed" && filter.decision != "blocked") {
        error = "--decision must be allowed or blocked, not \"" + filter.decision + "\"";
      }
    } else if (c.option({"--host"}, &filter.host, &error)) {
    } else if (c.option({"--limit", "-n"}, &limit_text, &error)) {
    } else if (c.option({"--sandbox"}, &sandbox_name, &error)) {
    } else if (c.peek().size() > 1 && c.peek()[0] == '-') {
      error = "unknown option " + c.next();
    } else if (sandbox_name.empty()) {
      sandbox_name = c.next();
    } else {
      error = "unexpected argument " + c.next();
    }
  }
  size_t limit = 0;
  if (error.empty() && !limit_text.empty()) {
    if (limit_text.size() > 9 || !std::all_of(limit_text.begin(), limit_text.end(), ::isdigit) ||
        std::stoul(limit_text) == 0) {
      error = "--limit needs a positive number";
    } else {
      limit = std::stoul(limit_text);
    }
  }
  if (error.empty() && follow && (summary || quiet))
    error = "-f prints each decision; it takes no --summary or -q";
  if (!error.empty()) return usageError(io, kCmd, kLogUsage, error);
  filter.sandbox = sandbox_name;
  if (!sandbox_name.empty() && !state::validSandboxName(sandbox_name))
    return fail(io, kCmd, "invalid sandbox name \"" + sandbox_name + "\"");
  auto state = openStateService();
  if (!state) return fail(io, kCmd, state.status().message());
  if (follow) {
    const state::Paths* paths = (*state)->localPaths();
    if (paths == nullptr) {
      return fail(io, kCmd,
                  "-f follows the log file itself, which only root may read: `sudo kitgate policy "
                  "log -f` (without -f the kitgate daemon answers)");
    }
    auto path = stateops::logPath(*paths);
    if (!path) return fail(io, kCmd, path.status().message());
    return followLog(*path, filter, json, io);
  }
  auto read = (*state)->readLog(filter, summary, limit);
  if (!read) return fail(io, kCmd, read.status().message());
  const nlohmann::json log = nlohmann::json::parse(*read, nullptr, false);
  if (!log.is_object()) return fail(io, kCmd, "the policy log summary is not a JSON object");
  const std::string path = log.value("path", "");
  std::vector<state::LogGroup> groups;
  for (const nlohmann::json& g : log.value("groups", nlohmann::json::array())) {
    groups.push_back({g.value("sandbox", ""), g.value("type", ""), g.value("host", ""),
                      g.value("decision", ""), g.value("proxy", ""), g.value("rule", ""),
                      g.value("reason", ""), g.value("last_seen", ""),
                      g.value("count", uint64_t{0})});
  }
  if (json) {
    io.out << log["groups"].dump(2) << "\n";
    return kExitOk;
  }
  if (quiet) {
    std::set<std::string> printed;
    for (const auto& g : groups) {
      if (printed.insert(g.host).second) io.out << g.host << "\n";
    }
    return kExitOk;
  }
  if (groups.empty()) {
    io.out << "No requests logged" << (sandbox_name.empty() ? "" : " for sandbox " + sandbox_name)
           << (filter.decision.empty() && filter.host.empty() ? "" : " that match") << " yet ("
           << path << ").\n";
    return kExitOk;
  }
  if (summary) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& g : groups)
      rows.push_back({g.host, g.decision, std::to_string(g.count), g.last_seen});
    printTable(io.out, io.out_color, {"HOST", "DECISION", "COUNT", "LAST SEEN"}, rows);
    return kExitOk;
  }
  bool first_section = true;
  for (bool blocked : {true, false}) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& g : groups) {
      if (g.blocked() != blocked) continue;
      rows.push_back({g.sandbox, g.type, g.host, g.proxy.empty() ? "-" : g.proxy,
                      g.rule.empty() ? "-" : g.rule, g.reason.empty() ? "-" : g.reason, g.last_seen,
                      std::to_string(g.count)});
    }
    if (rows.empty()) continue;
    io.out << (first_section ? "" : "\n")
           << (blocked ? "Blocked requests:\n" : "Allowed requests:\n");
    first_section = false;
    printTable(io.out, io.out_color,
               {"SANDBOX", "TYPE", "HOST", "PROXY", "RULE", "REASON", "LAST SEEN", "COUNT"}, rows);
  }
  return kExitOk;
}

}  // namespace

int runPolicyCommand(const Args& args, Io& io) {
  if (args.empty()) return usageError(io, kCmd, kUsage, "missing command");
  const std::string& sub = args[0];
  if (isHelpFlag(sub)) {
    io.out << kUsage;
    return kExitOk;
  }
  if (sub == "allow") return runRule(args, io, true);
  if (sub == "deny") return runRule(args, io, false);
  if (sub == "rm" || sub == "remove") return runRm(args, io);
  if (sub == "ls" || sub == "list") return runLs(args, io);
  if (sub == "check") return runCheck(args, io);
  if (sub == "log") return runLog(args, io);
  return usageError(io, kCmd, kUsage, "unknown command \"" + sub + "\"");
}

}  // namespace kitgate::cli
