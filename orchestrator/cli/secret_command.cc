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
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <ostream>

#include "orchestrator/cli/state_cli.h"
#include "orchestrator/sandbox/oauth_plan.h"
#include "orchestrator/state/secret_sources.h"
#include "orchestrator/state/state.h"
#include "proxy/secrets/host_pattern.h"
#include "proxy/secrets/mask.h"
#include "proxy/secrets/store.h"

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
  "                       you (the sudo caller under sudo); its stdout is the value\n"  \
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

// Check, save (with the source records when given), reload; prints the
// reload problem. Returns the exit code.
int commit(Io& io, const state::Paths& paths, const state::Secrets& next, const std::string& done,
           const std::vector<state::SecretSource>* sources = nullptr) {
  Status st = checkWithProxyLoader(paths, next);
  if (!st)
    return fail(io, kCmd,
                "kitgate-proxy would refuse this change; nothing saved:\n" + st.message());
  st = state::saveSecrets(paths, next);
  if (st && sources != nullptr) st = state::saveSources(paths, *sources);
  if (!st) return fail(io, kCmd, st.message());
  io.out << done << "\n";
  st = state::reloadProxy(paths);
  if (!st) return fail(io, kCmd, "saved, but " + st.message());
  warnWhereRestartNeeded(paths, io);
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

// Adds the source `dyn` describes for the secret `key` (kind, scope, name;
// hosts and placeholder for a custom one) to `sources` and resolves it into
// `secrets` now. The text to append to the "Stored …" line, or the failure
// (nothing is saved then).
StatusOr<std::string> resolveNewSource(const DynamicFlags& dyn, const state::SecretSource& key,
                                       std::vector<state::SecretSource>& sources,
                                       state::Secrets& secrets) {
  auto src = makeSource(dyn, key.kind);
  if (!src) return src.status();
  src->scope = key.scope;
  src->name = key.name;
  src->hosts = key.hosts;
  src->placeholder = key.placeholder;
  sources.push_back(*src);
  state::refreshSources(sources, secrets, sourceRunner(), nowUnix(), state::RefreshTrigger::kAll,
                        &*src);
  if (sources.back().state != state::SecretSource::State::kOk) {
    return Status::error("cannot resolve the secret: " + sources.back().error + "; nothing saved");
  }
  return " from " + src->describe() + ", refreshed " +
         (src->refresh_s > 0 ? "every " + state::formatRefresh(src->refresh_s)
                             : std::string("on each run/start"));
}

// The value of the secret `key` (whose old entry the caller removed) into
// `next`: resolved from `dyn` (its source replacing any in `sources`), or the
// typed value (-t, or stdin; dropping a source). The text to append to the
// "Stored …" line, or the failure (nothing is saved then).
StatusOr<std::string> storeSecret(const DynamicFlags& dyn, const std::optional<std::string>& value,
                                  Io& io, const std::string& what, const state::SecretSource& key,
                                  std::vector<state::SecretSource>& sources, state::Secrets& next) {
  std::erase_if(sources, [&](const state::SecretSource& s) { return s.sameSecret(key); });
  if (dyn.any()) return resolveNewSource(dyn, key, sources, next);
  auto secret = readValue(value, io, what);
  if (!secret) return secret.status();
  state::setSecretValue(next, key, std::move(*secret));
  return std::string();
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
  auto sources = state::loadSources(*paths);
  if (!sources) return fail(io, kCmd, sources.status().message());

  state::Secrets next = *secrets;
  const std::string sc = scope.scope();
  std::erase_if(next.services, [&](const state::ServiceSecret& s) {
    return s.service == service && s.scope == sc;
  });
  state::SecretSource key;
  key.kind = state::SecretSource::Kind::kService;
  key.scope = sc;
  key.name = service;
  auto from = storeSecret(dyn, value, io, "service " + service, key, *sources, next);
  if (!from) return fail(io, kCmd, from.status().message());
  noteUnknownSandbox(io, *paths, scope.sandbox);
  return commit(
      io, *paths, next,
      "Stored secret for service " + service + " (" + scopeShown(scope) + ")" + *from + ".",
      &*sources);
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
  auto sources = state::loadSources(*paths);
  if (!sources) return fail(io, kCmd, sources.status().message());

  state::Secrets next = *secrets;
  const std::string sc = scope.scope();
  std::erase_if(next.custom,
                [&](const state::CustomSecret& s) { return s.env == env && s.scope == sc; });
  state::SecretSource key;
  key.kind = state::SecretSource::Kind::kCustom;
  key.scope = sc;
  key.name = env;
  key.hosts = canonical;
  key.placeholder = placeholder;
  auto from = storeSecret(dyn, value, io, env, key, *sources, next);
  if (!from) return fail(io, kCmd, from.status().message());
  const std::string& secret = next.custom.back().value;
  if (secret.find(placeholder) != std::string::npos ||
      placeholder.find(secret) != std::string::npos) {
    return fail(io, kCmd, "the placeholder and the value overlap; choose another --placeholder");
  }
  noteUnknownSandbox(io, *paths, scope.sandbox);
  std::string hosts_text;
  for (const auto& h : canonical) hosts_text += (hosts_text.empty() ? "" : ", ") + h;
  return commit(io, *paths, next,
                env + "=" + placeholder + "\nStored custom secret " + env + " for " + hosts_text +
                    " (" + scopeShown(scope) + ")" + *from +
                    "; sandboxes see the placeholder above.",
                &*sources);
}

// ---- ls -----------------------------------------------------------------------

// What `ls` shows about where a secret's value comes from: never the value.
struct SourceView {
  std::string source = "value", refresh, state, expires;
};

std::string timeText(int64_t unix_s) {
  if (unix_s == 0) return "-";
  const std::time_t t = static_cast<std::time_t>(unix_s);
  std::tm tm{};
  ::localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", &tm);
  return buf;
}

SourceView viewOf(const std::vector<state::SecretSource>& sources, state::SecretSource::Kind kind,
                  const std::string& scope, const std::string& name) {
  SourceView v;
  for (const state::SecretSource& s : sources) {
    if (s.kind != kind || s.scope != scope || s.name != name) continue;
    v.source = s.describe();
    v.refresh = state::formatRefresh(s.refresh_s);
    v.state = s.state == state::SecretSource::State::kOk        ? "ok"
              : s.state == state::SecretSource::State::kFailing ? "failing: " + s.error
                                                                : "expired: " + s.error;
    v.expires = timeText(s.expires_at);
  }
  return v;
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
  auto paths = openState();
  if (!paths) return fail(io, kCmd, paths.status().message());
  auto secrets = loadOrExplain(*paths);
  if (!secrets) return fail(io, kCmd, secrets.status().message());
  auto sources = state::loadSources(*paths);
  if (!sources) return fail(io, kCmd, sources.status().message());
  auto shown = [&](const std::string& sc) { return !scope.any() || sc == scope.scope(); };
  using Kind = state::SecretSource::Kind;
  // Expired dynamic secrets have no value in secrets.yaml but are listed.
  std::vector<state::ServiceSecret> services = secrets->services;
  std::vector<state::CustomSecret> custom = secrets->custom;
  for (const state::SecretSource& s : *sources) {
    if (s.state != state::SecretSource::State::kExpired) continue;
    if (s.kind == Kind::kService) services.push_back({s.name, s.scope, ""});
    if (s.kind == Kind::kCustom) custom.push_back({s.scope, s.hosts, s.name, s.placeholder, ""});
  }
  auto masked = [](const std::string& v) {
    return v.empty() ? std::string("-") : secrets::maskSecret(v);
  };
  // Proxy-managed OAuth logins (per sandbox): state and expiry, no value.
  auto oauth = sandbox::oauthStatus(paths->root);
  if (!oauth) return fail(io, kCmd, oauth.status().message());
  auto oauthView = [](const sandbox::OAuthStatus& o) {
    return SourceView{"oauth (" + o.token_host + ")", "by the proxy", o.state,
                      timeText(o.expires_at_ms / 1000)};
  };

  if (json) {
    nlohmann::json out = {{"secrets", nlohmann::json::array()},
                          {"custom_secrets", nlohmann::json::array()}};
    auto addSource = [](nlohmann::json& j, const SourceView& v) {
      j["source"] = v.source;
      if (v.source == "value") return;
      j["refresh"] = v.refresh;
      j["state"] = v.state;
      j["expires"] = v.expires;
    };
    for (const auto& s : services) {
      if (!shown(s.scope)) continue;
      nlohmann::json j = {{"scope", s.scope},
                          {"type", "service"},
                          {"name", s.service},
                          {"secret", masked(s.value)}};
      addSource(j, viewOf(*sources, Kind::kService, s.scope, s.service));
      out["secrets"].push_back(std::move(j));
    }
    for (const auto& s : custom) {
      if (!shown(s.scope)) continue;
      nlohmann::json j = {{"scope", s.scope},
                          {"targets", s.hosts},
                          {"env", s.env},
                          {"placeholder", s.placeholder},
                          {"secret", masked(s.value)}};
      addSource(j, viewOf(*sources, Kind::kCustom, s.scope, s.env));
      out["custom_secrets"].push_back(std::move(j));
    }
    out["oauth"] = nlohmann::json::array();
    for (const auto& o : *oauth) {
      if (!shown(state::sandboxScope(o.sandbox))) continue;
      out["oauth"].push_back({{"scope", state::sandboxScope(o.sandbox)},
                              {"name", o.service},
                              {"token_host", o.token_host},
                              {"secret", o.logged_in ? "(stored)" : "-"},
                              {"state", o.state},
                              {"expires", timeText(o.expires_at_ms / 1000)}});
    }
    io.out << out.dump(2) << "\n";
    return kExitOk;
  }
  const bool dynamic = !sources->empty() || !oauth->empty();
  std::vector<std::vector<std::string>> rows;
  auto row = [&](std::vector<std::string> r, const SourceView& v) {
    if (dynamic) {
      r.insert(r.end(), {v.source, v.refresh.empty() ? "-" : v.refresh,
                         v.state.empty() ? "-" : v.state, v.expires.empty() ? "-" : v.expires});
    }
    rows.push_back(std::move(r));
  };
  for (const auto& s : services) {
    if (shown(s.scope))
      row({s.scope, "service", s.service, masked(s.value)},
          viewOf(*sources, Kind::kService, s.scope, s.service));
  }
  for (const auto& s : custom) {
    if (!shown(s.scope)) continue;
    std::string hosts;
    for (const auto& h : s.hosts) hosts += (hosts.empty() ? "" : ",") + h;
    row({s.scope, "custom", s.env + " (" + hosts + ") = " + s.placeholder, masked(s.value)},
        viewOf(*sources, Kind::kCustom, s.scope, s.env));
  }
  for (const auto& o : *oauth) {
    const std::string sc = state::sandboxScope(o.sandbox);
    if (shown(sc)) row({sc, "oauth", o.service, o.logged_in ? "(stored)" : "-"}, oauthView(o));
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
  auto sources = state::loadSources(*paths);
  if (!sources) return fail(io, kCmd, sources.status().message());
  // A --command/--ref secret whose value expired has a source but no value.
  removed += std::erase_if(*sources, [&](const state::SecretSource& s) {
    if (s.scope != sc || s.state != state::SecretSource::State::kExpired) return false;
    if (!service.empty()) return s.kind == state::SecretSource::Kind::kService && s.name == service;
    if (!placeholder.empty()) return s.placeholder == placeholder;
    return false;
  });
  // The OAuth login the proxy holds for this sandbox and service.
  bool oauth_held = false;
  if (!service.empty() && scope.any() && sc != state::kGlobalScope) {
    auto held = sandbox::oauthStatus(paths->root);
    if (!held) return fail(io, kCmd, held.status().message());
    for (const auto& o : *held)
      oauth_held |= o.logged_in && state::sandboxScope(o.sandbox) == sc && o.service == service;
  }
  if (removed == 0 && !oauth_held) {
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
  if (oauth_held) {
    bool gone = false;
    Status st =
        sandbox::removeOAuthTokens(paths->root, sc.substr(sc.find(':') + 1), service, &gone);
    if (!st) return fail(io, kCmd, st.message());
  }
  state::syncSources(*sources, next);
  return commit(io, *paths, next, "Removed secret for " + what + " (" + scopeShown(scope) + ").",
                &*sources);
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
  auto secrets = loadOrExplain(paths);
  if (!secrets) return secrets.status();
  state::RefreshReport report =
      state::refreshSources(*sources, *secrets, sourceRunner(), nowUnix(), trigger, only);
  *resolved = std::move(report.resolved);
  *errors = std::move(report.errors);
  if (!report.changed) return Status::ok();
  if (Status st = checkWithProxyLoader(paths, *secrets); !st) return st;
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
  auto paths = openState();
  if (!paths) return fail(io, kCmd, paths.status().message());
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
  auto paths = openState();
  if (!paths) return fail(io, kCmd, paths.status().message());
  auto lock = state::lockState(*paths);
  if (!lock) return fail(io, kCmd, lock.status().message());
  auto secrets = loadOrExplain(*paths);
  if (!secrets) return fail(io, kCmd, secrets.status().message());
  auto sources = state::loadSources(*paths);
  if (!sources) return fail(io, kCmd, sources.status().message());

  state::Secrets next = *secrets;
  const std::string global(state::kGlobalScope);
  std::string done;
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
    if (Status st = checkValue(value); !st) {
      io.err << "kitgate secret: skipping " << name << " (" << var << "): " << st.message() << "\n";
      continue;
    }
    const bool exists = std::any_of(next.services.begin(), next.services.end(), [&](const auto& s) {
      return s.service == name && s.scope == global;
    });
    if (exists && !force) {
      io.out << "Kept the existing global secret for " << name << " (" << var
             << " not imported; --force replaces it).\n";
      continue;
    }
    ++imported;
    if (dry_run) {
      io.out << "Would import " << name << " from " << var << ".\n";
      continue;
    }
    std::erase_if(next.services,
                  [&](const auto& s) { return s.service == name && s.scope == global; });
    std::erase_if(*sources, [&](const state::SecretSource& s) {
      return s.kind == state::SecretSource::Kind::kService && s.name == name && s.scope == global;
    });
    next.services.push_back({name, global, value});
    done += (done.empty() ? "" : "\n") + ("Imported " + name + " from " + var + " (global).");
  }
  if (dry_run) {
    if (imported == 0) io.out << "Nothing to import.\n";
    return kExitOk;
  }
  if (imported == 0) {
    io.out << "Nothing to import (none of the well-known variables is set; see --help).\n";
    return kExitOk;
  }
  return commit(io, *paths, next, done, &*sources);
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
  // The proxy lists, on each reload, the credential hosts a sandbox's CA
  // cannot sign for (proxy/mitm/authority.h): <ca>/<sandbox>.outside.
  for (const std::string& name : state::listSandboxes(paths)) {
    const std::string crt = paths.caCert(name);
    std::ifstream in(crt.substr(0, crt.size() - 4) + ".outside");
    std::string hosts, line;
    int count = 0;
    while (count < 20 && std::getline(in, line)) {
      if (line.empty()) continue;
      hosts += (hosts.empty() ? "" : ", ") + line;
      ++count;
    }
    if (hosts.empty()) continue;
    io.err << "WARN: sandbox " << name << " trusts an interception CA made before " << hosts
           << (count == 1 ? " was" : " were")
           << " allowed: its credentials are injected there after a restart (kitgate stop " << name
           << " && kitgate start " << name << ")\n";
  }
}

}  // namespace kitgate::cli
