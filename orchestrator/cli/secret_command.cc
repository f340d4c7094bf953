// `kitgate secret set | set-custom | ls | rm` (kit-spec §5.6-§5.8): the
// credential values in <state>/secrets.yaml that kitgate-proxy injects.
//
// A value never reaches argv of a process kitgate starts, a log, `ls` (masked)
// or an error message. Every change is checked with the proxy's own loader
// (secrets::loadStore) before it is saved, then the running proxy reloads.
#include "orchestrator/cli/secret_command.h"

#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <ostream>

#include "orchestrator/cli/state_cli.h"
#include "orchestrator/state/state.h"
#include "proxy/secrets/host_pattern.h"
#include "proxy/secrets/mask.h"
#include "proxy/secrets/store.h"

namespace kitgate::cli {

namespace {

constexpr std::string_view kCmd = "secret";

constexpr std::string_view kSecretUsage =
    "Usage: kitgate secret <set|set-custom|ls|rm> ...\n\n"
    "Credentials kitgate-proxy writes into sandbox requests. Values live in the\n"
    "state directory (secrets.yaml, mode 0600) and never enter a sandbox.\n\n"
    "Commands:\n"
    "  set SERVICE [-g | --sandbox N] [-t VALUE]       a kit service's credential\n"
    "  set --registry HOST -u USER [-t PASSWORD]       an OCI registry login (kit push/pull)\n"
    "  set-custom [-g | --sandbox N] --host PATTERN... --env VAR\n"
    "             [--placeholder 'p-{rand}'] [--value V]  a placeholder the proxy swaps\n"
    "  ls [-g | --sandbox N] [--json]                   list (values masked)\n"
    "  rm [-g | --sandbox N] (SERVICE | --host PATTERN | --placeholder P) [-f]\n\n"
    "Run 'kitgate secret <command> --help' for details.\n";

constexpr std::string_view kSetUsage =
    "Usage: kitgate secret set SERVICE [-g | --sandbox NAME] [-t VALUE]\n\n"
    "Stores the credential of SERVICE (a kit's credentials[].service). The proxy\n"
    "injects it into requests to that service's domains. Without -t the value is\n"
    "read from stdin (prompted without echo on a terminal). A sandbox-scoped\n"
    "value wins over the global one. Replaces an existing value of that scope.\n\n"
    "Options:\n"
    "  -g, --global         every sandbox (default)\n"
    "  --sandbox NAME       only sandbox NAME\n"
    "  -t, --token VALUE    the value (prefer stdin: argv is visible to other users)\n\n"
    "Examples:\n"
    "  printf '%s' \"$ANTHROPIC_API_KEY\" | kitgate secret set anthropic\n"
    "  kitgate secret set github --sandbox dev1 -t \"$(gh auth token)\"\n";

constexpr std::string_view kSetCustomUsage =
    "Usage: kitgate secret set-custom [-g | --sandbox NAME] --host PATTERN [--host PATTERN]...\n"
    "                                 --env VAR [--placeholder TEMPLATE] [--value V | -t V]\n\n"
    "Sandboxes in scope get VAR=<placeholder>; in requests to a matching host the\n"
    "proxy replaces the placeholder by the real value (headers, Basic credentials,\n"
    "query). Prints the placeholder. Without --value/-t the value is read from stdin.\n"
    "Replaces a custom secret of the same scope and VAR.\n\n"
    "Options:\n"
    "  -g, --global            every sandbox (default)\n"
    "  --sandbox NAME          only sandbox NAME\n"
    "  --host PATTERN          example.com, *.example.com (one label), **.example.com\n"
    "                          (any depth) or an IP address; repeatable or comma-separated\n"
    "  --env VAR               the environment variable that holds the placeholder\n"
    "  --placeholder TEMPLATE  {rand} becomes 16 random letters/digits\n"
    "                          (default: kitgate-cs-{rand})\n"
    "  --value V, -t V         the value (prefer stdin)\n\n"
    "Examples:\n"
    "  kitgate secret set-custom -g --host ampcode.com --env AMP_API_KEY \\\n"
    "      --placeholder \"sgamp-{rand}\" --value \"$AMP_API_KEY\"\n"
    "  printf '%s' \"$TOKEN\" | kitgate secret set-custom --sandbox dev1 --host '*.example.com' "
    "--env "
    "EXAMPLE_TOKEN\n";

constexpr std::string_view kLsUsage =
    "Usage: kitgate secret ls [-g | --sandbox NAME] [--json]\n\n"
    "Lists stored secrets: SCOPE TYPE NAME SECRET, values masked (first 6 and\n"
    "last 4 characters at most). Custom secrets show their env variable, hosts\n"
    "and placeholder.\n\n"
    "Options:\n"
    "  -g, --global      only global secrets\n"
    "  --sandbox NAME    only secrets scoped to sandbox NAME\n"
    "  --json            {secrets: [...], custom_secrets: [...]}\n\n"
    "Examples:\n"
    "  kitgate secret ls\n"
    "  kitgate secret ls --sandbox dev1 --json\n";

constexpr std::string_view kRmUsage =
    "Usage: kitgate secret rm [-g | --sandbox NAME] (SERVICE | --host PATTERN | --placeholder P) "
    "[-f]\n\n"
    "Removes a service secret, the custom secrets bound to a host (the host is\n"
    "dropped from a secret that names several), or the custom secret with a\n"
    "placeholder, in one scope (global unless --sandbox). Asks first unless -f.\n\n"
    "Examples:\n"
    "  kitgate secret rm -g --host ampcode.com\n"
    "  kitgate secret rm anthropic --sandbox dev1 -f\n"
    "  kitgate secret rm --placeholder sgamp-3f9cQ2x7Lm0aZk1B -f\n";

// The -g / --sandbox pair every subcommand takes.
struct ScopeFlags {
  bool global = false;
  std::string sandbox;
  bool any() const { return global || !sandbox.empty(); }
  std::string scope() const {
    return sandbox.empty() ? std::string(state::kGlobalScope) : state::sandboxScope(sandbox);
  }
};

// Consumes -g/--global/--sandbox at the cursor; true when it matched.
bool scopeFlag(ArgCursor& c, ScopeFlags* s, std::string* error) {
  if (c.flag({"-g", "--global"})) {
    s->global = true;
  } else if (std::string v; c.option({"--sandbox"}, &v, error)) {
    if (error->empty() && !state::validSandboxName(v)) {
      *error = "invalid sandbox name \"" + v + "\" (1-63 of a-z 0-9 - _ .)";
    }
    s->sandbox = v;
  } else {
    return false;
  }
  if (error->empty() && s->global && !s->sandbox.empty())
    *error = "-g and --sandbox exclude each other";
  return true;
}

bool validService(std::string_view s) {
  return !s.empty() && s.size() <= 128 && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
}

bool validEnv(std::string_view s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

// Checks a value without ever quoting it.
Status checkValue(std::string_view v) {
  if (v.empty()) return Status::error("the secret value is empty");
  for (char c : v) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      return Status::error("the secret value contains a control character (it must be one line)");
    }
  }
  if (v.front() == ' ' || v.back() == ' ') {
    return Status::error("the secret value starts or ends with a space");
  }
  return Status::ok();
}

// The value: from the flag, else stdin (no echo on a terminal). One trailing
// newline (\n or \r\n) is dropped.
StatusOr<std::string> readValue(const std::optional<std::string>& flag, Io& io,
                                std::string_view what) {
  std::string value;
  if (flag) {
    value = *flag;
  } else if (stdinIsTerminal()) {
    io.err << "Enter the secret for " << what << ": " << std::flush;
    termios old{};
    const bool have = ::tcgetattr(STDIN_FILENO, &old) == 0;
    if (have) {
      termios quiet = old;
      quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
      ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
    std::getline(std::cin, value);
    if (have) ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
    io.err << "\n";
  } else {
    value.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    if (!value.empty() && value.back() == '\n') value.pop_back();
    if (!value.empty() && value.back() == '\r') value.pop_back();
  }
  Status st = checkValue(value);
  if (!st) return st;
  return value;
}

void replaceAll(std::string* text, const std::string& from, const std::string& to) {
  for (size_t pos = 0; (pos = text->find(from, pos)) != std::string::npos; pos += to.size()) {
    text->replace(pos, from.size(), to);
  }
}

// Loads `candidate` with the proxy's own loader (in a scratch directory
// beside the real files, sharing credentials/) so that kitgate never saves a
// secrets.yaml the proxy would refuse.
Status checkWithProxyLoader(const state::Paths& paths, const state::Secrets& candidate) {
  state::Paths scratch{paths.root + "/.check-secrets." + std::to_string(::getpid())};
  if (::mkdir(scratch.root.c_str(), 0700) != 0) {
    return Status::error("cannot create " + scratch.root + ": " + std::strerror(errno));
  }
  const std::string link = scratch.root + "/credentials";
  ::symlink((paths.root + "/credentials").c_str(), link.c_str());
  Status st = state::saveSecrets(scratch, candidate);
  if (st) {
    auto store = secrets::loadStore(scratch.root);
    if (!store) {
      std::string message = store.status().message();
      replaceAll(&message, scratch.root, paths.root);
      st = Status::error(message);
    }
  }
  ::unlink(scratch.secretsFile().c_str());
  ::unlink(link.c_str());
  ::rmdir(scratch.sandboxesDir().c_str());
  ::rmdir(scratch.runDir().c_str());
  ::rmdir(scratch.root.c_str());
  return st;
}

// A sandbox-scoped secret for a sandbox that does not exist (yet) is kept;
// say so, a typo in --sandbox would otherwise go unnoticed.
void noteUnknownSandbox(Io& io, const state::Paths& paths, const std::string& sandbox) {
  const auto names = state::listSandboxes(paths);
  if (sandbox.empty() || std::find(names.begin(), names.end(), sandbox) != names.end()) return;
  io.err << "note: no sandbox named " << sandbox
         << " exists yet; the secret applies once one with that name is created\n";
}

// Check, save, reload; prints the reload problem. Returns the exit code.
int commit(Io& io, const state::Paths& paths, const state::Secrets& next, const std::string& done) {
  Status st = checkWithProxyLoader(paths, next);
  if (!st)
    return fail(io, kCmd,
                "kitgate-proxy would refuse this change; nothing saved:\n" + st.message());
  st = state::saveSecrets(paths, next);
  if (!st) return fail(io, kCmd, st.message());
  io.out << done << "\n";
  st = state::reloadProxy(paths);
  if (!st) return fail(io, kCmd, "saved, but " + st.message());
  return kExitOk;
}

StatusOr<state::Secrets> loadOrExplain(const state::Paths& paths) {
  auto s = state::loadSecrets(paths);
  if (!s) {
    return Status::error(s.status().message() + "\n(fix or remove " + paths.secretsFile() + ")");
  }
  return s;
}

std::string scopeShown(const ScopeFlags& s) {
  return s.sandbox.empty() ? "global" : "sandbox " + s.sandbox;
}

// ---- set --------------------------------------------------------------------

int runSet(const Args& args, Io& io) {
  ArgCursor c(args, 1);
  ScopeFlags scope;
  std::optional<std::string> value;
  std::string service, error, v;
  while (!c.done() && error.empty()) {
    if (isHelpFlag(c.peek())) {
      io.out << kSetUsage;
      return kExitOk;
    }
    if (scopeFlag(c, &scope, &error)) continue;
    if (c.option({"-t", "--token"}, &v, &error)) {
      value = v;
    } else if (c.peek().size() > 1 && c.peek()[0] == '-') {
      error = "unknown option " + c.next();
    } else if (service.empty()) {
      service = c.next();
    } else {
      error = "unexpected argument " + c.next();
    }
  }
  if (error.empty() && service.empty()) error = "set needs a SERVICE name";
  if (error.empty() && !validService(service)) {
    error = "invalid service name \"" + service + "\" (letters, digits, - _ .)";
  }
  if (!error.empty()) return usageError(io, kCmd, kSetUsage, error);

  auto paths = openState();
  if (!paths) return fail(io, kCmd, paths.status().message());
  auto lock = state::lockState(*paths);  // held until the change is saved
  if (!lock) return fail(io, kCmd, lock.status().message());
  auto secrets = loadOrExplain(*paths);
  if (!secrets) return fail(io, kCmd, secrets.status().message());
  auto secret = readValue(value, io, "service " + service);
  if (!secret) return fail(io, kCmd, secret.status().message());

  state::Secrets next = *secrets;
  const std::string sc = scope.scope();
  std::erase_if(next.services, [&](const state::ServiceSecret& s) {
    return s.service == service && s.scope == sc;
  });
  next.services.push_back({service, sc, *secret});
  noteUnknownSandbox(io, *paths, scope.sandbox);
  return commit(io, *paths, next,
                "Stored secret for service " + service + " (" + scopeShown(scope) + ").");
}

// ---- set --registry ---------------------------------------------------------

constexpr std::string_view kSetRegistryUsage =
    "Usage: kitgate secret set --registry HOST[:PORT] -u USER [-t PASSWORD]\n\n"
    "Stores a login for an OCI registry that 'kitgate kit push|pull' and kit\n"
    "references (run --kit, kit inspect, kit add) use before Docker's own\n"
    "credentials (~/.docker/config.json). The password or token is read from\n"
    "stdin (prompted without echo on a terminal) and kept in the state\n"
    "directory (registries.json, mode 0600). docker.io is Docker Hub.\n\n"
    "Examples:\n"
    "  printf '%s' \"$GHCR_TOKEN\" | kitgate secret set --registry ghcr.io -u octocat\n"
    "  kitgate secret set --registry registry.example.com:5000 -u ci\n";

int runSetRegistry(const Args& args, Io& io) {
  ArgCursor c(args, 1);
  std::optional<std::string> value;
  std::string registry, user, error, v;
  while (!c.done() && error.empty()) {
    if (isHelpFlag(c.peek())) {
      io.out << kSetRegistryUsage;
      return kExitOk;
    }
    if (c.option({"--registry"}, &v, &error)) {
      registry = v;
    } else if (c.option({"-u", "--username"}, &v, &error)) {
      user = v;
    } else if (c.option({"-t", "--token"}, &v, &error)) {
      value = v;
    } else {
      error = "unexpected argument " + c.next();
    }
  }
  if (error.empty() && (registry.empty() || registry.find('/') != std::string::npos))
    error = "--registry needs a registry host (HOST or HOST:PORT)";
  if (error.empty() && (user.empty() || user.find(':') != std::string::npos))
    error = "set --registry needs -u USER (without ':')";
  if (!error.empty()) return usageError(io, kCmd, kSetRegistryUsage, error);
  auto paths = openState();
  if (!paths) return fail(io, kCmd, paths.status().message());
  auto lock = state::lockState(*paths);
  if (!lock) return fail(io, kCmd, lock.status().message());
  const std::string file = paths->root + "/registries.json";
  nlohmann::json logins = nlohmann::json::object();
  if (std::ifstream in(file); in) {
    logins = nlohmann::json::parse(in, nullptr, false);
    if (!logins.is_object())
      return fail(io, kCmd, file + " is not a JSON object; fix or remove it");
  }
  auto secret = readValue(value, io, "registry " + registry);
  if (!secret) return fail(io, kCmd, secret.status().message());
  logins["auths"][registry] = {{"username", user}, {"password", *secret}};
  Status st = state::writeFileAtomic(file, logins.dump(2) + "\n", 0600);
  std::fill(secret->begin(), secret->end(), '\0');
  if (!st) return fail(io, kCmd, st.message());
  io.out << "Stored the login of " << user << " for registry " << registry << ".\n";
  return kExitOk;
}

// ---- set-custom -------------------------------------------------------------

int runSetCustom(const Args& args, Io& io) {
  ArgCursor c(args, 1);
  ScopeFlags scope;
  std::optional<std::string> value;
  std::optional<std::string> placeholder_template;
  std::vector<std::string> hosts;
  std::string env, error, v;
  while (!c.done() && error.empty()) {
    if (isHelpFlag(c.peek())) {
      io.out << kSetCustomUsage;
      return kExitOk;
    }
    if (scopeFlag(c, &scope, &error)) continue;
    if (c.option({"--host"}, &v, &error)) {
      splitList(v, &hosts);
    } else if (c.option({"--env"}, &v, &error)) {
      env = v;
    } else if (c.option({"--placeholder"}, &v, &error)) {
      placeholder_template = v;
    } else if (c.option({"--value", "-t", "--token"}, &v, &error)) {
      value = v;
    } else {
      error =
          (c.peek().size() > 1 && c.peek()[0] == '-' ? "unknown option " : "unexpected argument ") +
          c.next();
    }
  }
  if (error.empty() && hosts.empty()) error = "set-custom needs at least one --host PATTERN";
  if (error.empty() && env.empty()) error = "set-custom needs --env VAR";
  if (error.empty() && !validEnv(env))
    error = "invalid --env \"" + env + "\": use a shell variable name";
  if (!error.empty()) return usageError(io, kCmd, kSetCustomUsage, error);

  std::vector<std::string> canonical;
  std::string problems;
  for (const auto& h : hosts) {
    auto parsed = secrets::parseHostPattern(h);
    if (auto* e = std::get_if<policy::RuleError>(&parsed)) {
      problems +=
          "  --host " + h + ": column " + std::to_string(e->column) + ": " + e->message + "\n";
    } else {
      const std::string& p = std::get<secrets::HostPattern>(parsed).canonical;
      if (std::find(canonical.begin(), canonical.end(), p) == canonical.end())
        canonical.push_back(p);
    }
  }
  if (!problems.empty()) {
    return fail(io, kCmd,
                "invalid host pattern:\n" + problems +
                    "use an exact host, *.domain (one label), **.domain (any depth) or an IP");
  }
  const std::string placeholder = state::newPlaceholder(placeholder_template.value_or(""));
  if (placeholder.size() < 8 || std::any_of(placeholder.begin(), placeholder.end(),
                                            [](char ch) { return ch <= ' ' || ch >= 0x7f; })) {
    return fail(io, kCmd,
                "the placeholder must be at least 8 printable ASCII characters without spaces");
  }

  auto paths = openState();
  if (!paths) return fail(io, kCmd, paths.status().message());
  auto lock = state::lockState(*paths);  // held until the change is saved
  if (!lock) return fail(io, kCmd, lock.status().message());
  auto secrets = loadOrExplain(*paths);
  if (!secrets) return fail(io, kCmd, secrets.status().message());
  auto secret = readValue(value, io, env);
  if (!secret) return fail(io, kCmd, secret.status().message());
  if (secret->find(placeholder) != std::string::npos ||
      placeholder.find(*secret) != std::string::npos) {
    return fail(io, kCmd, "the placeholder and the value overlap; choose another --placeholder");
  }

  state::Secrets next = *secrets;
  const std::string sc = scope.scope();
  std::erase_if(next.custom,
                [&](const state::CustomSecret& s) { return s.env == env && s.scope == sc; });
  next.custom.push_back({sc, canonical, env, placeholder, *secret});
  noteUnknownSandbox(io, *paths, scope.sandbox);
  std::string hosts_text;
  for (const auto& h : canonical) hosts_text += (hosts_text.empty() ? "" : ", ") + h;
  return commit(io, *paths, next,
                env + "=" + placeholder + "\nStored custom secret " + env + " for " + hosts_text +
                    " (" + scopeShown(scope) + "); sandboxes see the placeholder above.");
}

// ---- ls -----------------------------------------------------------------------

int runLs(const Args& args, Io& io) {
  ArgCursor c(args, 1);
  ScopeFlags scope;
  bool json = false;
  std::string error;
  while (!c.done() && error.empty()) {
    if (isHelpFlag(c.peek())) {
      io.out << kLsUsage;
      return kExitOk;
    }
    if (scopeFlag(c, &scope, &error)) continue;
    if (c.flag({"--json"})) {
      json = true;
    } else {
      error = "unexpected argument " + c.next();
    }
  }
  if (!error.empty()) return usageError(io, kCmd, kLsUsage, error);
  auto paths = openState();
  if (!paths) return fail(io, kCmd, paths.status().message());
  auto secrets = loadOrExplain(*paths);
  if (!secrets) return fail(io, kCmd, secrets.status().message());
  auto shown = [&](const std::string& sc) { return !scope.any() || sc == scope.scope(); };

  if (json) {
    nlohmann::json out = {{"secrets", nlohmann::json::array()},
                          {"custom_secrets", nlohmann::json::array()}};
    for (const auto& s : secrets->services) {
      if (!shown(s.scope)) continue;
      out["secrets"].push_back({{"scope", s.scope},
                                {"type", "service"},
                                {"name", s.service},
                                {"secret", secrets::maskSecret(s.value)}});
    }
    for (const auto& s : secrets->custom) {
      if (!shown(s.scope)) continue;
      out["custom_secrets"].push_back({{"scope", s.scope},
                                       {"targets", s.hosts},
                                       {"env", s.env},
                                       {"placeholder", s.placeholder},
                                       {"secret", secrets::maskSecret(s.value)}});
    }
    io.out << out.dump(2) << "\n";
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& s : secrets->services) {
    if (shown(s.scope))
      rows.push_back({s.scope, "service", s.service, secrets::maskSecret(s.value)});
  }
  for (const auto& s : secrets->custom) {
    if (!shown(s.scope)) continue;
    std::string hosts;
    for (const auto& h : s.hosts) hosts += (hosts.empty() ? "" : ",") + h;
    rows.push_back({s.scope, "custom", s.env + " (" + hosts + ") = " + s.placeholder,
                    secrets::maskSecret(s.value)});
  }
  if (rows.empty()) {
    io.out << "No secrets stored" << (scope.any() ? " in scope " + scope.scope() : std::string())
           << ".\n";
    return kExitOk;
  }
  printTable(io.out, io.out_color, {"SCOPE", "TYPE", "NAME", "SECRET"}, rows);
  return kExitOk;
}

// ---- rm -----------------------------------------------------------------------

int runRm(const Args& args, Io& io) {
  ArgCursor c(args, 1);
  ScopeFlags scope;
  bool force = false;
  std::string service, host, placeholder, error;
  while (!c.done() && error.empty()) {
    if (isHelpFlag(c.peek())) {
      io.out << kRmUsage;
      return kExitOk;
    }
    if (scopeFlag(c, &scope, &error)) continue;
    if (c.flag({"-f", "--force"})) {
      force = true;
    } else if (c.option({"--host"}, &host, &error) ||
               c.option({"--placeholder"}, &placeholder, &error)) {
    } else if (c.peek().size() > 1 && c.peek()[0] == '-') {
      error = "unknown option " + c.next();
    } else if (service.empty()) {
      service = c.next();
    } else {
      error = "unexpected argument " + c.next();
    }
  }
  const int selectors = !service.empty() + !host.empty() + !placeholder.empty();
  if (error.empty() && selectors != 1)
    error = "name exactly one of SERVICE, --host PATTERN, --placeholder P";
  if (!error.empty()) return usageError(io, kCmd, kRmUsage, error);

  std::string canonical_host;
  if (!host.empty()) {
    auto parsed = secrets::parseHostPattern(host);
    canonical_host = std::holds_alternative<secrets::HostPattern>(parsed)
                         ? std::get<secrets::HostPattern>(parsed).canonical
                         : host;
  }
  auto paths = openState();
  if (!paths) return fail(io, kCmd, paths.status().message());
  auto lock = state::lockState(*paths);  // held until the change is saved
  if (!lock) return fail(io, kCmd, lock.status().message());
  auto secrets = loadOrExplain(*paths);
  if (!secrets) return fail(io, kCmd, secrets.status().message());

  const std::string sc = scope.scope();
  state::Secrets next = *secrets;
  size_t removed = 0;
  std::string what;
  if (!service.empty()) {
    removed = std::erase_if(next.services,
                            [&](const auto& s) { return s.service == service && s.scope == sc; });
    what = "service \"" + service + "\"";
  } else if (!placeholder.empty()) {
    removed = std::erase_if(
        next.custom, [&](const auto& s) { return s.placeholder == placeholder && s.scope == sc; });
    what = "placeholder \"" + placeholder + "\"";
  } else {
    for (auto& s : next.custom) {
      if (s.scope == sc) removed += std::erase(s.hosts, canonical_host);
    }
    std::erase_if(next.custom, [](const auto& s) { return s.hosts.empty(); });
    what = "host \"" + canonical_host + "\"";
  }
  if (removed == 0) {
    return fail(io, kCmd,
                "no secret found for " + what + " in scope \"" + sc + "\" (see kitgate secret ls)");
  }
  if (!force) {
    if (!stdinIsTerminal())
      return fail(io, kCmd, "stdin is not a terminal; use --force to skip confirmation");
    if (!confirm(io, "Delete selected secret?")) {
      io.out << "Nothing deleted.\n";
      return kExitFailed;
    }
  }
  return commit(io, *paths, next, "Removed secret for " + what + " (" + scopeShown(scope) + ").");
}

}  // namespace

int runSecretCommand(const Args& args, Io& io) {
  if (args.empty()) return usageError(io, kCmd, kSecretUsage, "missing command");
  if (isHelpFlag(args[0])) {
    io.out << kSecretUsage;
    return kExitOk;
  }
  const std::string& sub = args[0];
  if (sub == "set" && std::find_if(args.begin(), args.end(), [](const std::string& a) {
                        return a == "--registry" || a.rfind("--registry=", 0) == 0;
                      }) != args.end()) {
    return runSetRegistry(args, io);
  }
  if (sub == "set") return runSet(args, io);
  if (sub == "set-custom") return runSetCustom(args, io);
  if (sub == "ls" || sub == "list") return runLs(args, io);
  if (sub == "rm" || sub == "remove") return runRm(args, io);
  return usageError(io, kCmd, kSecretUsage, "unknown command \"" + sub + "\"");
}

}  // namespace kitgate::cli
