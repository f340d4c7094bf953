// `kitgate secret set | set-custom | ls | rm` (kit-spec §5.6-§5.8): the
// credential values in <state>/secrets.yaml that kitgate-proxy injects.
//
// A value never reaches argv of a process kitgate starts, a log, `ls` (masked)
// or an error message. What reads and writes the state files is behind
// stateops::StateService: the state directory itself as root, the root
// kitgate daemon for a user in the docker group (state_cli.h
// openStateService). Every change is checked with the proxy's own loader
// (secrets::loadStore) before it is saved, then the running proxy reloads.
#include "orchestrator/cli/secret_command.h"

#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <ostream>

#include "orchestrator/cli/state_cli.h"
#include "orchestrator/state/secret_sources.h"
#include "orchestrator/state/state.h"
#include "orchestrator/stateops/secret_ops.h"
#include "orchestrator/stateops/service.h"
#include "proxy/secrets/host_pattern.h"

namespace kitgate::cli {

namespace {

constexpr std::string_view kCmd = "secret";

constexpr std::string_view kSecretUsage =
    "Usage: kitgate secret <set|set-custom|ls|rm|refresh|import> ...\n\n"
    "Credentials kitgate-proxy writes into sandbox requests. Values live in the\n"
    "state directory (secrets.yaml, mode 0600) and never enter a sandbox.\n\n"
    "Commands:\n"
    "  set SERVICE [-g | --sandbox N] [-t VALUE | --command CMD | --ref REF]\n"
    "                                                  a kit service's credential\n"
    "  set --registry HOST -u USER [-t PASSWORD]       an OCI registry login (kit push/pull)\n"
    "  set-custom [-g | --sandbox N] --host PATTERN... --env VAR\n"
    "             [--placeholder 'p-{rand}'] [--value V]  a placeholder the proxy swaps\n"
    "  ls [-g | --sandbox N] [--json]                   list (values masked)\n"
    "  rm [-g | --sandbox N] (SERVICE | --host PATTERN | --placeholder P) [-f]\n"
    "  refresh [SERVICE | --env VAR] [-g | --sandbox N] [--due]\n"
    "                                                  resolve --command/--ref secrets now\n"
    "  import [SERVICE] [--all] [--dry-run] [--force]  copy well-known host env vars\n\n"
    "Run 'kitgate secret <command> --help' for details.\n";

// --command/--ref/--refresh/--show-error, shared by set and set-custom.
#define DYNAMIC_OPTIONS(default_refresh)                                                \
  "  --command CMD        resolve the value by running `sh -c CMD` on this host as\n"   \
  "                       you (the sudo caller under sudo); its stdout is the value.\n" \
  "                       Without sudo (the kitgate daemon): once, not refreshed\n"     \
  "  --ref REF            resolve op://VAULT/ITEM/FIELD (1Password CLI `op read`) or\n" \
  "                       arn:aws:secretsmanager:… (AWS CLI) the same way\n"          \
  "  --refresh D          re-resolve before D (55m, 1h, 90s) runs out, or on-demand:\n" \
  "                       on each run/start (default " default_refresh                  \
  ");\n"                                                                                \
  "                       see kitgate secret refresh\n"                                 \
  "  --show-error         include the command's error output in failures\n\n"

constexpr std::string_view kSetUsage =
    "Usage: kitgate secret set SERVICE [-g | --sandbox NAME]\n"
    "           [-t VALUE | --command CMD | --ref REF [--refresh DURATION|on-demand]\n"
    "            [--show-error]]\n\n"
    "Stores the credential of SERVICE (a kit's credentials[].service). The proxy\n"
    "injects it into requests to that service's domains. Without -t the value is\n"
    "read from stdin (prompted without echo on a terminal). A sandbox-scoped\n"
    "value wins over the global one. Replaces an existing value of that scope.\n\n"
    "Options:\n"
    "  -g, --global         every sandbox (default)\n"
    "  --sandbox NAME       only sandbox NAME\n"
    "  -t, --token VALUE    the value (prefer stdin: argv is visible to other users)\n"
    DYNAMIC_OPTIONS("55m")
    "Examples:\n"
    "  printf '%s' \"$ANTHROPIC_API_KEY\" | kitgate secret set anthropic\n"
    "  kitgate secret set github --command 'gh auth token' --refresh 55m\n"
    "  kitgate secret set openai --ref op://Private/OpenAI/credential\n"
    "  kitgate secret set github --sandbox dev1 --command 'gh auth token' --show-error\n";

constexpr std::string_view kSetCustomUsage =
    "Usage: kitgate secret set-custom [-g | --sandbox NAME] --host PATTERN [--host PATTERN]...\n"
    "                                 --env VAR [--placeholder TEMPLATE]\n"
    "                                 [--value V | -t V | --command CMD | --ref REF\n"
    "                                  [--refresh DURATION|on-demand] [--show-error]]\n\n"
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
    "  --value V, -t V         the value (prefer stdin)\n"
    DYNAMIC_OPTIONS("on-demand")
    "Examples:\n"
    "  kitgate secret set-custom -g --host ampcode.com --env AMP_API_KEY \\\n"
    "      --placeholder \"sgamp-{rand}\" --value \"$AMP_API_KEY\"\n"
    "  printf '%s' \"$TOKEN\" | kitgate secret set-custom --sandbox dev1 --host '*.example.com' "
    "--env "
    "EXAMPLE_TOKEN\n";

#undef DYNAMIC_OPTIONS

constexpr std::string_view kLsUsage =
    "Usage: kitgate secret ls [-g | --sandbox NAME] [--json]\n\n"
    "Lists stored secrets: SCOPE TYPE NAME SECRET, values masked (first 6 and\n"
    "last 4 characters at most). Custom secrets show their env variable, hosts\n"
    "and placeholder. When a secret comes from --command/--ref, SOURCE, STATE\n"
    "(ok, failing: last value kept, expired: not injected) and EXPIRES follow.\n\n"
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
  Status st = stateops::checkValue(value);
  if (!st) return st;
  return value;
}

using stateops::Outcome;

// scopeShown of the flags.
std::string scopeShown(const ScopeFlags& s) { return stateops::scopeShown(s.scope()); }

// Prints what a change had to say: notes, `done` (the outcome's own unless
// given), then the reload failure or the warnings. Returns the exit code.
int report(Io& io, const StatusOr<Outcome>& outcome, const std::string& done = "") {
  if (!outcome) return fail(io, kCmd, outcome.status().message());
  for (const std::string& n : outcome->notes) io.err << "note: " << n << "\n";
  io.out << (done.empty() ? outcome->done : done) << "\n";
  if (!outcome->reload_error.empty()) return fail(io, kCmd, "saved, but " + outcome->reload_error);
  for (const std::string& w : outcome->warnings) io.err << "WARN: " << w << "\n";
  return kExitOk;
}

// ---- dynamic secrets (--command / --ref) -----------------------------------

struct DynamicFlags {
  std::string command, ref, refresh;
  bool show_error = false;
  bool any() const { return !command.empty() || !ref.empty(); }
};

// Consumes --command/--ref/--refresh/--show-error at the cursor.
bool dynamicFlag(ArgCursor& c, DynamicFlags* d, std::string* error) {
  if (c.flag({"--show-error"})) {
    d->show_error = true;
    return true;
  }
  return c.option({"--command"}, &d->command, error) || c.option({"--ref"}, &d->ref, error) ||
         c.option({"--refresh"}, &d->refresh, error);
}

// sbx's exclusions: --command/--ref exclude each other and a typed value.
std::string dynamicProblem(const DynamicFlags& d, bool has_value) {
  if (!d.command.empty() && !d.ref.empty()) return "--command and --ref exclude each other";
  if (d.any() && has_value) return "--command/--ref and a value (-t/--value) exclude each other";
  if (!d.any() && (!d.refresh.empty() || d.show_error))
    return "--refresh and --show-error need --command or --ref";
  return {};
}

int64_t nowUnix() { return static_cast<int64_t>(std::time(nullptr)); }

// The source a `set`/`set-custom` with --command/--ref describes, resolved
// as the invoking user.
StatusOr<state::SecretSource> makeSource(const DynamicFlags& d, state::SecretSource::Kind kind) {
  state::SecretSource src;
  src.kind = kind;
  src.command = d.command;
  src.ref = d.ref;
  src.show_error = d.show_error;
  src.refresh_s = state::defaultRefresh(kind);
  if (!d.refresh.empty()) {
    auto r = state::parseRefresh(d.refresh);
    if (!r) return r.status();
    src.refresh_s = *r;
  }
  if (auto argv = state::sourceArgv(src); !argv) return argv.status();
  const state::HostUser user =
      state::invokingUser(::getuid(), ::getgid(), std::getenv("SUDO_UID"), std::getenv("SUDO_GID"));
  src.uid = user.uid;
  src.gid = user.gid;
  return src;
}

// Resolves sources by running their helpers.
const state::SourceRunner& sourceRunner() {
  static const state::ProcessSourceRunner runner;
  return runner;
}

// The value of the secret `key` (which `dyn` resolves, or typed: -t, or
// stdin) stored through `state`. Locally a --command/--ref source is kept and
// refreshed; through the kitgate daemon (which never runs commands) the CLI
// resolves it once, as this user, and the daemon stores the value. The text
// to append to the "Stored …" line, or the failure (nothing is saved then).
StatusOr<std::string> storeSecret(stateops::StateService& state, const DynamicFlags& dyn,
                                  const std::optional<std::string>& value, Io& io,
                                  const std::string& what, const state::SecretSource& key,
                                  Outcome* outcome) {
  std::string from, secret;
  std::optional<state::SecretSource> resolved;
  if (dyn.any()) {
    if (state.localPaths() == nullptr && !dyn.refresh.empty()) {
      return Status::error(
          "--refresh: through the kitgate daemon a --command/--ref secret is resolved once, by "
          "this command (the daemon never runs commands); set it with sudo to have it refreshed");
    }
    auto src = makeSource(dyn, key.kind);
    if (!src) return src.status();
    src->scope = key.scope;
    src->name = key.name;
    src->hosts = key.hosts;
    src->placeholder = key.placeholder;
    std::vector<state::SecretSource> one{*src};
    state::Secrets scratch;
    state::refreshSources(one, scratch, sourceRunner(), nowUnix(), state::RefreshTrigger::kAll,
                          &*src);
    if (one[0].state != state::SecretSource::State::kOk) {
      return Status::error("cannot resolve the secret: " + one[0].error + "; nothing saved");
    }
    secret = key.kind == state::SecretSource::Kind::kService ? scratch.services.at(0).value
                                                             : scratch.custom.at(0).value;
    if (state.localPaths() != nullptr) {
      resolved = one[0];
      from = " from " + src->describe() + ", refreshed " +
             (src->refresh_s > 0 ? "every " + state::formatRefresh(src->refresh_s)
                                 : std::string("on each run/start"));
    } else {
      from = " from " + src->describe() +
             " (resolved once, as you: the kitgate daemon never runs commands; run this again "
             "to renew it)";
    }
  } else {
    auto typed = readValue(value, io, what);
    if (!typed) return typed.status();
    secret = std::move(*typed);
  }
  auto stored = state.storeSecret(key, secret, resolved ? &*resolved : nullptr);
  std::fill(secret.begin(), secret.end(), '\0');
  if (!stored) return stored.status();
  *outcome = std::move(*stored);
  return from;
}

// ---- set --------------------------------------------------------------------

int runSet(const Args& args, Io& io) {
  ArgCursor c(args, 1);
  ScopeFlags scope;
  DynamicFlags dyn;
  std::optional<std::string> value;
  std::string service, error, v;
  while (!c.done() && error.empty()) {
    if (isHelpFlag(c.peek())) {
      io.out << kSetUsage;
      return kExitOk;
    }
    if (scopeFlag(c, &scope, &error) || dynamicFlag(c, &dyn, &error)) continue;
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
  if (error.empty()) error = dynamicProblem(dyn, value.has_value());
  if (error.empty() && service.empty()) error = "set needs a SERVICE name";
  if (error.empty() && !stateops::validService(service)) {
    error = "invalid service name \"" + service + "\" (letters, digits, - _ .)";
  }
  if (!error.empty()) return usageError(io, kCmd, kSetUsage, error);

  auto state = openStateService();
  if (!state) return fail(io, kCmd, state.status().message());
  state::SecretSource key;
  key.kind = state::SecretSource::Kind::kService;
  key.scope = scope.scope();
  key.name = service;
  Outcome outcome;
  auto from = storeSecret(**state, dyn, value, io, "service " + service, key, &outcome);
  if (!from) return fail(io, kCmd, from.status().message());
  return report(
      io, outcome,
      "Stored secret for service " + service + " (" + scopeShown(scope) + ")" + *from + ".");
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
  DynamicFlags dyn;
  std::string env, error, v;
  while (!c.done() && error.empty()) {
    if (isHelpFlag(c.peek())) {
      io.out << kSetCustomUsage;
      return kExitOk;
    }
    if (scopeFlag(c, &scope, &error) || dynamicFlag(c, &dyn, &error)) continue;
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
  if (error.empty()) error = dynamicProblem(dyn, value.has_value());
  if (error.empty() && hosts.empty()) error = "set-custom needs at least one --host PATTERN";
  if (error.empty() && env.empty()) error = "set-custom needs --env VAR";
  if (error.empty() && !stateops::validEnv(env))
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
  if (Status st = stateops::checkPlaceholder(placeholder); !st) return fail(io, kCmd, st.message());

  auto state = openStateService();
  if (!state) return fail(io, kCmd, state.status().message());
  state::SecretSource key;
  key.kind = state::SecretSource::Kind::kCustom;
  key.scope = scope.scope();
  key.name = env;
  key.hosts = canonical;
  key.placeholder = placeholder;
  Outcome outcome;
  auto from = storeSecret(**state, dyn, value, io, env, key, &outcome);
  if (!from) return fail(io, kCmd, from.status().message());
  std::string hosts_text;
  for (const auto& h : canonical) hosts_text += (hosts_text.empty() ? "" : ", ") + h;
  return report(io, outcome,
                env + "=" + placeholder + "\nStored custom secret " + env + " for " + hosts_text +
                    " (" + scopeShown(scope) + ")" + *from +
                    "; sandboxes see the placeholder above.");
}

// ---- ls -----------------------------------------------------------------------

// A listing value: "-" for empty.
std::string field(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string() || it->get_ref<const std::string&>().empty()) return "-";
  return it->get<std::string>();
}

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
  auto state = openStateService();
  if (!state) return fail(io, kCmd, state.status().message());
  auto text = (*state)->listSecrets();
  if (!text) return fail(io, kCmd, text.status().message());
  nlohmann::json all = nlohmann::json::parse(*text, nullptr, false);
  if (!all.is_object()) return fail(io, kCmd, "the secret listing is not a JSON object");
  // Only the scope asked for.
  auto shown = [&](const nlohmann::json& j) {
    return !scope.any() || (j.contains("scope") && j["scope"] == scope.scope());
  };
  nlohmann::json out = {{"secrets", nlohmann::json::array()},
                        {"custom_secrets", nlohmann::json::array()},
                        {"oauth", nlohmann::json::array()}};
  bool dynamic = false;
  for (const char* list : {"secrets", "custom_secrets", "oauth"}) {
    for (const nlohmann::json& j : all.value(list, nlohmann::json::array())) {
      dynamic |= std::string(list) == "oauth" || field(j, "source") != "value";
      if (shown(j)) out[list].push_back(j);
    }
  }
  if (json) {
    io.out << out.dump(2) << "\n";
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows;
  auto row = [&](std::vector<std::string> r, std::vector<std::string> source) {
    if (dynamic) r.insert(r.end(), source.begin(), source.end());
    rows.push_back(std::move(r));
  };
  auto sourceOf = [&](const nlohmann::json& j) {
    return std::vector<std::string>{field(j, "source"), field(j, "refresh"), field(j, "state"),
                                    field(j, "expires")};
  };
  for (const nlohmann::json& s : out["secrets"]) {
    row({field(s, "scope"), "service", field(s, "name"), field(s, "secret")}, sourceOf(s));
  }
  for (const nlohmann::json& s : out["custom_secrets"]) {
    std::string hosts;
    for (const auto& h : s.value("targets", nlohmann::json::array())) {
      if (h.is_string()) hosts += (hosts.empty() ? "" : ",") + h.get<std::string>();
    }
    row({field(s, "scope"), "custom",
         field(s, "env") + " (" + hosts + ") = " + field(s, "placeholder"), field(s, "secret")},
        sourceOf(s));
  }
  for (const nlohmann::json& o : out["oauth"]) {
    row({field(o, "scope"), "oauth", field(o, "name"), field(o, "secret")},
        {"oauth (" + field(o, "token_host") + ")", "by the proxy", field(o, "state"),
         field(o, "expires")});
  }
  if (rows.empty()) {
    io.out << "No secrets stored" << (scope.any() ? " in scope " + scope.scope() : std::string())
           << ".\n";
    return kExitOk;
  }
  std::vector<std::string> header = {"SCOPE", "TYPE", "NAME", "SECRET"};
  if (dynamic) header.insert(header.end(), {"SOURCE", "REFRESH", "STATE", "EXPIRES"});
  printTable(io.out, io.out_color, header, rows);
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

  stateops::SecretSelector selector{scope.scope(), service, host, placeholder};
  if (!host.empty()) {
    auto parsed = secrets::parseHostPattern(host);
    if (std::holds_alternative<secrets::HostPattern>(parsed))
      selector.host = std::get<secrets::HostPattern>(parsed).canonical;
  }
  auto state = openStateService();
  if (!state) return fail(io, kCmd, state.status().message());
  auto found = (*state)->removeSecret(selector, /*dry_run=*/true);
  if (!found) return fail(io, kCmd, found.status().message());
  if (!force) {
    if (!stdinIsTerminal())
      return fail(io, kCmd, "stdin is not a terminal; use --force to skip confirmation");
    if (!confirm(io, "Delete selected secret?")) {
      io.out << "Nothing deleted.\n";
      return kExitFailed;
    }
  }
  return report(io, (*state)->removeSecret(selector, /*dry_run=*/false));
}

// ---- refresh ------------------------------------------------------------------

constexpr std::string_view kRefreshUsage =
    "Usage: kitgate secret refresh [SERVICE | --env VAR] [-g | --sandbox NAME] [--due]\n\n"
    "Resolves the secrets set with --command or --ref again (as the user who set\n"
    "them), saves the values and reloads the proxy. A failure keeps the last\n"
    "value until it expires. Without --due every one (or the one named) is\n"
    "resolved; with --due only those about to expire: run that from a timer so\n"
    "values stay fresh while no kitgate command runs (kitgate run and start\n"
    "refresh due and on-demand secrets themselves).\n\n"
    "Examples:\n"
    "  kitgate secret refresh\n"
    "  kitgate secret refresh github\n"
    "  */5 * * * *  kitgate secret refresh --due     (crontab)\n";

// Resolves the selected sources, saves and reloads. Failures become lines on
// `warn`; returns the saving/reload error, if any.
Status refreshAndSave(const state::Paths& paths, state::RefreshTrigger trigger,
                      const state::SecretSource* only, bool* found,
                      std::vector<std::string>* resolved, std::vector<std::string>* errors) {
  auto lock = state::lockState(paths);
  if (!lock) return lock.status();
  auto sources = state::loadSources(paths);
  if (!sources) return sources.status();
  if (found != nullptr) {
    *found = only == nullptr ? !sources->empty()
                             : std::any_of(sources->begin(), sources->end(),
                                           [&](const auto& s) { return s.sameSecret(*only); });
  }
  if (sources->empty()) return Status::ok();
  auto secrets = state::loadSecrets(paths);
  if (!secrets) return secrets.status();
  state::RefreshReport report =
      state::refreshSources(*sources, *secrets, sourceRunner(), nowUnix(), trigger, only);
  *resolved = std::move(report.resolved);
  *errors = std::move(report.errors);
  if (!report.changed) return Status::ok();
  if (Status st = stateops::checkWithProxyLoader(paths, *secrets); !st) return st;
  if (Status st = state::saveSecrets(paths, *secrets); !st) return st;
  if (Status st = state::saveSources(paths, *sources); !st) return st;
  return state::reloadProxy(paths);
}

int runRefresh(const Args& args, Io& io) {
  ArgCursor c(args, 1);
  ScopeFlags scope;
  bool due = false;
  std::string service, env, error;
  while (!c.done() && error.empty()) {
    if (isHelpFlag(c.peek())) {
      io.out << kRefreshUsage;
      return kExitOk;
    }
    if (scopeFlag(c, &scope, &error)) continue;
    if (c.flag({"--due"})) {
      due = true;
    } else if (c.option({"--env"}, &env, &error)) {
    } else if (c.peek().size() > 1 && c.peek()[0] == '-') {
      error = "unknown option " + c.next();
    } else if (service.empty()) {
      service = c.next();
    } else {
      error = "unexpected argument " + c.next();
    }
  }
  if (error.empty() && !service.empty() && !env.empty()) error = "name SERVICE or --env, not both";
  if (error.empty() && scope.any() && service.empty() && env.empty())
    error = "-g/--sandbox need SERVICE or --env VAR";
  if (!error.empty()) return usageError(io, kCmd, kRefreshUsage, error);
  auto state = openStateService();
  if (!state) return fail(io, kCmd, state.status().message());
  if ((*state)->localPaths() == nullptr) {
    return fail(io, kCmd,
                "refreshing runs the secrets' commands, which the kitgate daemon never does: a "
                "--command/--ref secret set without sudo was resolved once (set it again to "
                "renew it); `sudo kitgate secret refresh` refreshes those set with sudo");
  }
  const state::Paths* paths = (*state)->localPaths();
  std::optional<state::SecretSource> only;
  if (!service.empty() || !env.empty()) {
    only.emplace();
    only->kind =
        env.empty() ? state::SecretSource::Kind::kService : state::SecretSource::Kind::kCustom;
    only->name = env.empty() ? service : env;
    only->scope = scope.scope();
  }
  bool found = false;
  std::vector<std::string> resolved, errors;
  Status st =
      refreshAndSave(*paths, due ? state::RefreshTrigger::kDue : state::RefreshTrigger::kAll,
                     only ? &*only : nullptr, &found, &resolved, &errors);
  if (!found) {
    if (only) {
      return fail(io, kCmd,
                  "no --command/--ref secret " + only->name + " in scope \"" + only->scope +
                      "\" (see kitgate secret ls)");
    }
    io.out << "No secrets set with --command or --ref.\n";
    return kExitOk;
  }
  for (const std::string& r : resolved) io.out << "Refreshed " << r << ".\n";
  for (const std::string& e : errors) io.err << "kitgate secret: error: " << e << "\n";
  if (!st) return fail(io, kCmd, st.message());
  if (resolved.empty() && errors.empty()) io.out << "Nothing due.\n";
  return errors.empty() ? kExitOk : kExitFailed;
}

// ---- import -------------------------------------------------------------------

constexpr std::string_view kImportUsage =
    "Usage: kitgate secret import [SERVICE] [--all] [--dry-run] [--force]\n\n"
    "Copies well-known host environment variables into global service secrets\n"
    "(host env vars are never injected on their own). Without SERVICE (or with\n"
    "--all) every service whose variable is set; an existing global secret is\n"
    "kept unless --force. Values are never printed.\n\n"
    "  anthropic ANTHROPIC_API_KEY    openai OPENAI_API_KEY     github GH_TOKEN, GITHUB_TOKEN\n"
    "  google GEMINI_API_KEY, GOOGLE_API_KEY                    groq GROQ_API_KEY\n"
    "  mistral MISTRAL_API_KEY        openrouter OPENROUTER_API_KEY   xai XAI_API_KEY\n"
    "  nebius NEBIUS_API_KEY          cursor CURSOR_API_KEY\n\n"
    "Examples:\n"
    "  kitgate secret import --dry-run\n"
    "  kitgate secret import anthropic --force\n";

struct WellKnown {
  std::string_view service;
  std::vector<std::string_view> env;  // first set one wins
};

const std::vector<WellKnown>& wellKnownEnv() {
  static const std::vector<WellKnown> list = {
      {"anthropic", {"ANTHROPIC_API_KEY"}},
      {"openai", {"OPENAI_API_KEY"}},
      {"github", {"GH_TOKEN", "GITHUB_TOKEN"}},
      {"google", {"GEMINI_API_KEY", "GOOGLE_API_KEY"}},
      {"groq", {"GROQ_API_KEY"}},
      {"mistral", {"MISTRAL_API_KEY"}},
      {"openrouter", {"OPENROUTER_API_KEY"}},
      {"xai", {"XAI_API_KEY"}},
      {"nebius", {"NEBIUS_API_KEY"}},
      {"cursor", {"CURSOR_API_KEY"}},
  };
  return list;
}

int runImport(const Args& args, Io& io) {
  ArgCursor c(args, 1);
  bool all = false, dry_run = false, force = false;
  std::string service, error;
  while (!c.done() && error.empty()) {
    if (isHelpFlag(c.peek())) {
      io.out << kImportUsage;
      return kExitOk;
    }
    if (c.flag({"--all"})) {
      all = true;
    } else if (c.flag({"--dry-run"})) {
      dry_run = true;
    } else if (c.flag({"-f", "--force"})) {
      force = true;
    } else if (c.peek().size() > 1 && c.peek()[0] == '-') {
      error = "unknown option " + c.next();
    } else if (service.empty()) {
      service = c.next();
    } else {
      error = "unexpected argument " + c.next();
    }
  }
  if (error.empty() && all && !service.empty()) error = "name a SERVICE or --all, not both";
  const auto& known = wellKnownEnv();
  if (error.empty() && !service.empty() &&
      std::none_of(known.begin(), known.end(),
                   [&](const WellKnown& w) { return w.service == service; })) {
    error = "no well-known environment variable for service \"" + service + "\"";
  }
  if (!error.empty()) return usageError(io, kCmd, kImportUsage, error);
  auto state = openStateService();
  if (!state) return fail(io, kCmd, state.status().message());
  auto listing = (*state)->listSecrets();
  if (!listing) return fail(io, kCmd, listing.status().message());
  const nlohmann::json stored = nlohmann::json::parse(*listing, nullptr, false);
  const std::string global(state::kGlobalScope);
  auto exists = [&](const std::string& name) {
    if (!stored.is_object()) return false;
    for (const nlohmann::json& s : stored.value("secrets", nlohmann::json::array())) {
      if (s.value("scope", "") == global && s.value("name", "") == name &&
          s.value("secret", "-") != "-") {
        return true;
      }
    }
    return false;
  };

  struct Import {
    std::string name, var, value;
  };
  std::vector<Import> imports;
  int imported = 0;
  for (const WellKnown& w : known) {
    if (!service.empty() && w.service != service) continue;
    const std::string name(w.service);
    const char* value = nullptr;
    std::string var;
    for (std::string_view e : w.env) {
      const std::string ev(e);
      if (const char* v = std::getenv(ev.c_str()); v != nullptr && *v != '\0') {
        value = v;
        var = ev;
        break;
      }
    }
    if (value == nullptr) {
      if (!service.empty())
        return fail(io, kCmd, "no " + std::string(w.env[0]) + " in the environment");
      continue;
    }
    if (Status st = stateops::checkValue(value); !st) {
      io.err << "kitgate secret: skipping " << name << " (" << var << "): " << st.message() << "\n";
      continue;
    }
    if (exists(name) && !force) {
      io.out << "Kept the existing global secret for " << name << " (" << var
             << " not imported; --force replaces it).\n";
      continue;
    }
    ++imported;
    if (dry_run) {
      io.out << "Would import " << name << " from " << var << ".\n";
      continue;
    }
    imports.push_back({name, var, value});
  }
  if (dry_run) {
    if (imported == 0) io.out << "Nothing to import.\n";
    return kExitOk;
  }
  if (imported == 0) {
    io.out << "Nothing to import (none of the well-known variables is set; see --help).\n";
    return kExitOk;
  }
  // One change per service (each replaces that global secret and its source).
  StatusOr<Outcome> last = Outcome{};
  std::string done;
  for (const Import& i : imports) {
    state::SecretSource key;
    key.kind = state::SecretSource::Kind::kService;
    key.scope = global;
    key.name = i.name;
    last = (*state)->storeSecret(key, i.value, nullptr);
    if (!last) break;
    done += (done.empty() ? "" : "\n") + ("Imported " + i.name + " from " + i.var + " (global).");
  }
  if (!last && !done.empty()) io.out << done << "\n";
  return report(io, last, done);
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
  if (sub == "refresh") return runRefresh(args, io);
  if (sub == "import") return runImport(args, io);
  return usageError(io, kCmd, kSecretUsage, "unknown command \"" + sub + "\"");
}

void refreshSecretsForLaunch(const state::Paths& paths, Io& io) {
  std::vector<std::string> resolved, errors;
  Status st =
      refreshAndSave(paths, state::RefreshTrigger::kLaunch, nullptr, nullptr, &resolved, &errors);
  for (const std::string& e : errors) io.err << "WARN: secret " << e << "\n";
  if (!st) io.err << "WARN: refreshing --command/--ref secrets: " << st.message() << "\n";
}

void warnWhereRestartNeeded(const state::Paths& paths, Io& io) {
  for (const std::string& w : stateops::restartWarnings(paths)) io.err << "WARN: " << w << "\n";
}

}  // namespace kitgate::cli
