// The state directory's files: paths, atomic writes, and the yaml of
// sandboxes/, credentials/, secrets.yaml, policy.yaml and proxy.yaml's
// `listen`. The only yaml-cpp user of kitgate_state; yaml-cpp exceptions are
// caught here and never leave.
#include <dirent.h>
#include <fcntl.h>
#include <pwd.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "orchestrator/state/state.h"

namespace kitgate::state {

namespace {

std::string join(const std::string& dir, std::string_view name) {
  return dir + "/" + std::string(name);
}

std::string errnoText(int err) { return std::strerror(err); }

Status mkdirMode(const std::string& dir, mode_t mode) {
  if (::mkdir(dir.c_str(), mode) == 0) return Status::ok();
  if (errno != EEXIST) return Status::error("cannot create " + dir + ": " + errnoText(errno));
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return Status::error(dir + " exists and is not a directory");
  }
  return Status::ok();
}

// mkdir -p with 0700 for every directory it creates.
Status mkdirs(const std::string& dir) {
  if (dir.empty()) return Status::ok();
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) return Status::error(dir + " exists and is not a directory");
    return Status::ok();
  }
  size_t slash = dir.find_last_of('/');
  if (slash != std::string::npos && slash > 0) {
    Status parent = mkdirs(dir.substr(0, slash));
    if (!parent) return parent;
  }
  return mkdirMode(dir, 0700);
}

bool readWholeFile(const std::string& path, std::string* out, bool* missing) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *missing = errno == ENOENT;
    return false;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return true;
}

// Parses `path`; a missing file is a null node. Errors name file:line:column
// and yaml-cpp's message (which quotes no content).
StatusOr<YAML::Node> loadYaml(const std::string& path) {
  std::string text;
  bool missing = false;
  if (!readWholeFile(path, &text, &missing)) {
    if (missing) return YAML::Node();
    return Status::error("cannot read " + path + ": " + errnoText(errno));
  }
  try {
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return Status::error(path + ":" + std::to_string(e.mark.line + 1) + ":" +
                         std::to_string(e.mark.column + 1) + ": error: not valid YAML (" + e.msg +
                         ")");
  }
}

Status shapeError(const std::string& path, const YAML::Node& node, const std::string& what) {
  const auto mark = node.Mark();
  return Status::error(path + ":" + std::to_string(mark.line + 1) + ":" +
                       std::to_string(mark.column + 1) + ": error: " + what);
}

// Reads a scalar or a list of scalars.
bool stringList(const YAML::Node& node, std::vector<std::string>* out) {
  if (!node) return true;
  if (node.IsScalar()) {
    out->push_back(node.Scalar());
    return true;
  }
  if (!node.IsSequence()) return false;
  for (const auto& item : node) {
    if (!item.IsScalar()) return false;
    out->push_back(item.Scalar());
  }
  return true;
}

bool scalar(const YAML::Node& node, std::string* out) {
  if (!node) return true;
  if (!node.IsScalar()) return false;
  *out = node.Scalar();
  return true;
}

void emitList(YAML::Emitter& e, std::string_view key, const std::vector<std::string>& items) {
  e << YAML::Key << std::string(key) << YAML::Value << YAML::BeginSeq;
  for (const auto& s : items) e << YAML::DoubleQuoted << s;
  e << YAML::EndSeq;
}

void emitFlowList(YAML::Emitter& e, std::string_view key, const std::vector<std::string>& items) {
  e << YAML::Key << std::string(key) << YAML::Value << YAML::Flow << YAML::BeginSeq;
  for (const auto& s : items) e << YAML::DoubleQuoted << s;
  e << YAML::EndSeq;
}

void emitString(YAML::Emitter& e, std::string_view key, const std::string& value) {
  e << YAML::Key << std::string(key) << YAML::Value << YAML::DoubleQuoted << value;
}

std::string finish(const YAML::Emitter& e, std::string_view header) {
  std::string out(header);
  out += e.c_str();
  out += "\n";
  return out;
}

Status removeFile(const std::string& path) {
  if (::unlink(path.c_str()) == 0 || errno == ENOENT) return Status::ok();
  return Status::error("cannot remove " + path + ": " + errnoText(errno));
}

constexpr std::string_view kAlnum =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

std::string randomAlnum(size_t n) {
  std::string out;
  unsigned char buf[64];
  while (out.size() < n) {
    ssize_t got = ::getrandom(buf, sizeof buf, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      // The OS CSPRNG is an environment guarantee (STYLE rule 12).
      std::fprintf(stderr, "kitgate: getrandom failed: %s\n", errnoText(errno).c_str());
      std::abort();
    }
    for (ssize_t i = 0; i < got && out.size() < n; ++i) {
      // 248 = 4 * 62: rejection sampling keeps every character equally likely.
      if (buf[i] < 248) out += kAlnum[buf[i] % kAlnum.size()];
    }
  }
  return out;
}

}  // namespace

// ---- paths ------------------------------------------------------------------

std::string Paths::proxyConfig() const { return join(root, "proxy.yaml"); }
std::string Paths::sandboxesDir() const { return join(root, "sandboxes"); }
std::string Paths::sandboxFile(std::string_view name) const {
  return join(sandboxesDir(), std::string(name) + ".yaml");
}
std::string Paths::credentialsFile(std::string_view name) const {
  return join(join(root, "credentials"), std::string(name) + ".yaml");
}
std::string Paths::secretsFile() const { return join(root, "secrets.yaml"); }
std::string Paths::policyFile() const { return join(root, "policy.yaml"); }
std::string Paths::caCert(std::string_view sandbox) const {
  return join(join(root, "ca"), std::string(sandbox) + ".crt");
}
std::string Paths::policyLog() const { return join(root, "policy.log"); }
std::string Paths::readyFile() const { return join(root, "proxy.ready"); }
std::string Paths::adminSocket() const { return join(root, "admin.sock"); }
std::string Paths::proxyOut() const { return join(root, "proxy.out"); }
std::string Paths::runDir() const { return join(root, "run"); }

Paths defaultPaths() {
  Paths p;
  if (const char* env = std::getenv("KITGATE_STATE_DIR"); env != nullptr && *env != '\0') {
    p.root = env;
  } else if (::geteuid() == 0) {
    p.root = "/var/lib/kitgate";
  } else if (const char* xdg = std::getenv("XDG_STATE_HOME"); xdg != nullptr && *xdg == '/') {
    p.root = std::string(xdg) + "/kitgate";
  } else {
    const char* home = std::getenv("HOME");
    std::string h = home != nullptr ? home : "";
    if (h.empty()) {
      if (const passwd* pw = ::getpwuid(::geteuid()); pw != nullptr) h = pw->pw_dir;
    }
    p.root = h + "/.local/state/kitgate";
  }
  while (p.root.size() > 1 && p.root.back() == '/') p.root.pop_back();
  if (!p.root.empty() && p.root[0] != '/') {
    // Absolute, so that the proxy (started in another directory) and the
    // files it names agree on where everything is.
    char cwd[PATH_MAX];
    if (::getcwd(cwd, sizeof cwd) != nullptr) p.root = std::string(cwd) + "/" + p.root;
  }
  return p;
}

Status ensureDirs(const Paths& paths) {
  Status st = mkdirs(paths.root);
  if (!st) return st;
  struct stat info {};
  if (::stat(paths.root.c_str(), &info) == 0 && info.st_uid == ::geteuid() &&
      (info.st_mode & 077) != 0) {
    ::chmod(paths.root.c_str(), 0700);
  }
  for (const char* sub : {"sandboxes", "credentials", "run"}) {
    st = mkdirMode(join(paths.root, sub), 0700);
    if (!st) return st;
  }
  return Status::ok();
}

StatusOr<UniqueFd> lockFile(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd.valid()) return Status::error("cannot open " + path + ": " + errnoText(errno));
  while (::flock(fd.get(), LOCK_EX) != 0) {
    if (errno != EINTR) return Status::error("cannot lock " + path + ": " + errnoText(errno));
  }
  return fd;
}

StatusOr<UniqueFd> lockState(const Paths& paths) {
  Status st = mkdirs(paths.root);
  if (!st) return st;
  return lockFile(join(paths.root, ".state.lock"));
}

Status writeFileAtomic(const std::string& path, std::string_view content, mode_t mode) {
  const size_t slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
  const std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  Status st = mkdirs(dir);
  if (!st) return st;
  // Unique per writer, threads of one process included (concurrent starts).
  static std::atomic<unsigned> serial{0};
  const std::string tmp = join(dir, "." + base + ".tmp." + std::to_string(::getpid()) + "." +
                                        std::to_string(serial.fetch_add(1)));
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) return Status::error("cannot write " + tmp + ": " + errnoText(errno));
  // The umask may have narrowed `mode`; make it exact (and never wider).
  bool ok = ::fchmod(fd, mode) == 0;
  size_t done = 0;
  while (ok && done < content.size()) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ok = false;
      break;
    }
    done += static_cast<size_t>(n);
  }
  const int write_errno = errno;
  ok = ok && ::fsync(fd) == 0;
  ok = ::close(fd) == 0 && ok;
  if (!ok) {
    ::unlink(tmp.c_str());
    return Status::error("cannot write " + path + ": " + errnoText(write_errno));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return Status::error("cannot replace " + path + ": " + errnoText(err));
  }
  return Status::ok();
}

// ---- sandboxes --------------------------------------------------------------

Status writeSandbox(const Paths& paths, const SandboxRecord& r) {
  if (!validSandboxName(r.name)) {
    return Status::error("invalid sandbox name \"" + r.name +
                         "\": use 1-63 of a-z 0-9 - _ . starting with a letter or digit");
  }
  if (r.sources.empty() && r.token.empty()) {
    return Status::error("sandbox " + r.name + " needs match sources, a token, or both");
  }
  YAML::Emitter e;
  e << YAML::BeginMap;
  emitString(e, "name", r.name);
  e << YAML::Key << "match" << YAML::Value << YAML::BeginMap;
  if (!r.sources.empty()) emitFlowList(e, "sources", r.sources);
  if (!r.token.empty()) emitString(e, "token", r.token);
  e << YAML::EndMap;
  emitList(e, "allow", r.allow);
  emitList(e, "deny", r.deny);
  if (r.max_connections > 0) {
    e << YAML::Key << "limits" << YAML::Value << YAML::BeginMap << YAML::Key << "max_connections"
      << YAML::Value << r.max_connections << YAML::EndMap;
  }
  e << YAML::EndMap;
  return writeFileAtomic(paths.sandboxFile(r.name),
                         finish(e, "# Written by kitgate; format: proxy/sandbox/FORMAT.md\n"),
                         0600);
}

StatusOr<SandboxRecord> loadSandbox(const Paths& paths, std::string_view name) {
  if (!validSandboxName(name))
    return Status::error("invalid sandbox name \"" + std::string(name) + "\"");
  const std::string file = paths.sandboxFile(name);
  auto doc = loadYaml(file);
  if (!doc) return doc.status();
  if (!doc->IsDefined() || doc->IsNull())
    return Status::error("no sandbox named " + std::string(name));
  try {
    if (!doc->IsMap()) return shapeError(file, *doc, "expected a map");
    SandboxRecord r;
    r.name = std::string(name);
    const YAML::Node match = (*doc)["match"];
    if (match && !match.IsMap()) return shapeError(file, match, "\"match\" must be a map");
    if (match && !stringList(match["sources"], &r.sources)) {
      return shapeError(file, match["sources"], "\"sources\" must be a list of addresses");
    }
    if (match && !scalar(match["token"], &r.token)) {
      return shapeError(file, match["token"], "\"token\" must be a string");
    }
    if (!stringList((*doc)["allow"], &r.allow)) {
      return shapeError(file, (*doc)["allow"], "\"allow\" must be a list of rules");
    }
    if (!stringList((*doc)["deny"], &r.deny)) {
      return shapeError(file, (*doc)["deny"], "\"deny\" must be a list of rules");
    }
    if (const YAML::Node limits = (*doc)["limits"];
        limits && limits.IsMap() && limits["max_connections"]) {
      r.max_connections = limits["max_connections"].as<uint32_t>();
    }
    return r;
  } catch (const YAML::Exception& e) {
    return Status::error(file + ":" + std::to_string(e.mark.line + 1) + ": error: " + e.msg);
  }
}

Status removeSandbox(const Paths& paths, std::string_view name) {
  if (!validSandboxName(name))
    return Status::error("invalid sandbox name \"" + std::string(name) + "\"");
  Status st = removeFile(paths.sandboxFile(name));
  if (!st) return st;
  return removeRoutes(paths, name);
}

std::vector<std::string> listSandboxes(const Paths& paths) {
  std::vector<std::string> names;
  DIR* dir = ::opendir(paths.sandboxesDir().c_str());
  if (dir == nullptr) return names;
  while (const dirent* ent = ::readdir(dir)) {
    std::string_view n = ent->d_name;
    if (n.empty() || n[0] == '.' || n.size() <= 5 || n.substr(n.size() - 5) != ".yaml") continue;
    names.emplace_back(n.substr(0, n.size() - 5));
  }
  ::closedir(dir);
  std::sort(names.begin(), names.end());
  return names;
}

// ---- credentials ------------------------------------------------------------

Status writeRoutes(const Paths& paths, std::string_view sandbox, const std::vector<Route>& routes) {
  if (!validSandboxName(sandbox)) {
    return Status::error("invalid sandbox name \"" + std::string(sandbox) + "\"");
  }
  if (routes.empty()) return removeRoutes(paths, sandbox);
  YAML::Emitter e;
  e << YAML::BeginMap << YAML::Key << "routes" << YAML::Value << YAML::BeginSeq;
  for (const auto& r : routes) {
    e << YAML::BeginMap;
    emitString(e, "service", r.service);
    emitFlowList(e, "domains", r.domains);
    if (!r.header.empty()) emitString(e, "header", r.header);
    if (!r.format.empty()) emitString(e, "format", r.format);
    if (!r.username.empty()) emitString(e, "username", r.username);
    e << YAML::EndMap;
  }
  e << YAML::EndSeq << YAML::EndMap;
  return writeFileAtomic(paths.credentialsFile(sandbox),
                         finish(e, "# Written by kitgate; format: proxy/secrets/FORMAT.md\n"),
                         0600);
}

Status removeRoutes(const Paths& paths, std::string_view sandbox) {
  return removeFile(paths.credentialsFile(sandbox));
}

// ---- secrets ------------------------------------------------------------------

std::string sandboxScope(std::string_view sandbox) { return "sandbox:" + std::string(sandbox); }

StatusOr<Secrets> loadSecrets(const Paths& paths) {
  const std::string file = paths.secretsFile();
  auto doc = loadYaml(file);
  if (!doc) return doc.status();
  Secrets out;
  if (!doc->IsDefined() || doc->IsNull()) return out;
  // Messages below name positions and keys only: never a value.
  try {
    if (!doc->IsMap()) return shapeError(file, *doc, "expected a map with services and custom");
    const YAML::Node services = (*doc)["services"];
    if (services && !services.IsNull()) {
      if (!services.IsSequence()) return shapeError(file, services, "\"services\" must be a list");
      for (const auto& s : services) {
        ServiceSecret v;
        if (!s.IsMap() || !scalar(s["service"], &v.service) || !scalar(s["scope"], &v.scope) ||
            !scalar(s["value"], &v.value)) {
          return shapeError(file, s, "a service secret needs service, scope and value strings");
        }
        if (v.scope.empty()) v.scope = std::string(kGlobalScope);
        out.services.push_back(std::move(v));
      }
    }
    const YAML::Node custom = (*doc)["custom"];
    if (custom && !custom.IsNull()) {
      if (!custom.IsSequence()) return shapeError(file, custom, "\"custom\" must be a list");
      for (const auto& c : custom) {
        CustomSecret v;
        if (!c.IsMap() || !scalar(c["scope"], &v.scope) || !stringList(c["hosts"], &v.hosts) ||
            !scalar(c["env"], &v.env) || !scalar(c["placeholder"], &v.placeholder) ||
            !scalar(c["value"], &v.value)) {
          return shapeError(file, c,
                            "a custom secret needs scope, hosts, env, placeholder and value");
        }
        if (v.scope.empty()) v.scope = std::string(kGlobalScope);
        out.custom.push_back(std::move(v));
      }
    }
  } catch (const YAML::Exception& e) {
    return Status::error(file + ":" + std::to_string(e.mark.line + 1) +
                         ": error: malformed secrets");
  }
  return out;
}

Status saveSecrets(const Paths& paths, const Secrets& secrets) {
  Status st = ensureDirs(paths);
  if (!st) return st;
  YAML::Emitter e;
  e << YAML::BeginMap;
  e << YAML::Key << "services" << YAML::Value << YAML::BeginSeq;
  for (const auto& s : secrets.services) {
    e << YAML::BeginMap;
    emitString(e, "service", s.service);
    emitString(e, "scope", s.scope);
    emitString(e, "value", s.value);
    e << YAML::EndMap;
  }
  e << YAML::EndSeq;
  e << YAML::Key << "custom" << YAML::Value << YAML::BeginSeq;
  for (const auto& c : secrets.custom) {
    e << YAML::BeginMap;
    emitString(e, "scope", c.scope);
    emitFlowList(e, "hosts", c.hosts);
    emitString(e, "env", c.env);
    emitString(e, "placeholder", c.placeholder);
    emitString(e, "value", c.value);
    e << YAML::EndMap;
  }
  e << YAML::EndSeq << YAML::EndMap;
  return writeFileAtomic(
      paths.secretsFile(),
      finish(e, "# Written by kitgate secret; format: proxy/secrets/FORMAT.md. Keep 0600.\n"),
      0600);
}

std::string newPlaceholder(std::string_view tmpl) {
  if (tmpl.empty()) return "kitgate-cs-" + randomAlnum(16);
  constexpr std::string_view kRand = "{rand}";
  std::string out;
  size_t pos = 0;
  while (true) {
    size_t at = tmpl.find(kRand, pos);
    if (at == std::string_view::npos) break;
    out.append(tmpl.substr(pos, at - pos));
    out += randomAlnum(16);
    pos = at + kRand.size();
  }
  out.append(tmpl.substr(pos));
  return out;
}

std::vector<std::pair<std::string, std::string>> placeholdersFor(const Secrets& secrets,
                                                                 std::string_view sandbox) {
  const std::string own = sandboxScope(sandbox);
  std::map<std::string, std::string> global, mine;
  for (const auto& c : secrets.custom) {
    if (c.scope == kGlobalScope) global[c.env] = c.placeholder;
    if (c.scope == own) mine[c.env] = c.placeholder;
  }
  for (auto& [env, placeholder] : mine) global[env] = placeholder;
  return {global.begin(), global.end()};
}

// ---- policy.yaml ----------------------------------------------------------------

StatusOr<GlobalPolicy> loadGlobalPolicy(const Paths& paths) {
  const std::string file = paths.policyFile();
  auto doc = loadYaml(file);
  if (!doc) return doc.status();
  GlobalPolicy p;
  if (!doc->IsDefined() || doc->IsNull()) return p;
  if (!doc->IsMap()) return shapeError(file, *doc, "expected a map with allow and deny");
  if (!stringList((*doc)["allow"], &p.allow)) {
    return shapeError(file, (*doc)["allow"], "\"allow\" must be a list of rules");
  }
  if (!stringList((*doc)["deny"], &p.deny)) {
    return shapeError(file, (*doc)["deny"], "\"deny\" must be a list of rules");
  }
  return p;
}

Status saveGlobalPolicy(const Paths& paths, const GlobalPolicy& policy) {
  YAML::Emitter e;
  e << YAML::BeginMap;
  emitList(e, "allow", policy.allow);
  emitList(e, "deny", policy.deny);
  e << YAML::EndMap;
  return writeFileAtomic(
      paths.policyFile(),
      finish(e, "# Global rules for every sandbox; written by kitgate policy allow|deny.\n"), 0600);
}

// ---- proxy.yaml ---------------------------------------------------------------

// Every local address, a port the kernel picks at the first start (then
// pinned in proxy.yaml: pinTransparentListen): the host rules redirect to
// the sandbox's gateway on that port, and proxies of two state directories
// never compete for one. Fixed at start.
// Reachable from outside only where a host rule REDIRECTed the connection:
// the proxy serves no source it does not know and never connects back to
// its own endpoints.
constexpr std::string_view kTransparentListen = "0.0.0.0:0";

std::string defaultProxyConfig(const Paths& paths) {
  YAML::Emitter e;
  e << YAML::BeginMap;
  emitList(e, "listen", {"127.0.0.1:3128"});
  emitList(e, "transparent_listen", {std::string(kTransparentListen)});
  emitString(e, "metrics_listen", "127.0.0.1:9090");
  emitString(e, "admin_listen", "unix:" + paths.adminSocket());
  emitString(e, "state_dir", paths.root);
  e << YAML::Key << "policy_log" << YAML::Value << YAML::BeginMap;
  emitString(e, "path", paths.policyLog());
  e << YAML::EndMap << YAML::EndMap;
  return finish(e,
                "# kitgate-proxy configuration written by kitgate (see proxy/config/config.h).\n"
                "# `listen` and `dns_listen` gain one entry per sandbox network while sandboxes\n"
                "# run; the host rules send the sandboxes' other TCP to `transparent_listen`.\n");
}

namespace {

// proxy.yaml as a node (the default config when missing).
StatusOr<YAML::Node> loadProxyYaml(const Paths& paths) {
  auto doc = loadYaml(paths.proxyConfig());
  if (!doc) return doc.status();
  if (!doc->IsDefined() || doc->IsNull()) {
    try {
      return YAML::Load(defaultProxyConfig(paths));
    } catch (const YAML::Exception&) {
      return Status::error("internal error: default proxy.yaml does not parse");
    }
  }
  if (!doc->IsMap()) return shapeError(paths.proxyConfig(), *doc, "expected a map");
  return doc;
}

constexpr std::string_view kDefaultListen = "127.0.0.1:3128";

// `dir` as proxy.yaml means it (relative to the state directory, where the
// proxy runs) is the directory `root`.
bool sameDirectory(const std::string& root, const std::string& dir) {
  if (dir.empty()) return false;
  const std::string full = dir.front() == '/' ? dir : root + "/" + dir;
  char a[PATH_MAX], b[PATH_MAX];
  if (::realpath(root.c_str(), a) == nullptr || ::realpath(full.c_str(), b) == nullptr) {
    return full == root;
  }
  return std::string(a) == std::string(b);
}

// Puts back the keys kitgate relies on (state_dir, admin_listen, policy_log,
// a non-empty listen); says what it changed in *repaired. A state_dir that
// names another directory is refused: the proxy would serve other state.
Status ownKeys(const Paths& paths, YAML::Node& doc, std::vector<std::string>* repaired) {
  const std::string file = paths.proxyConfig();
  YAML::Node state_dir = doc["state_dir"];
  if (!state_dir || state_dir.IsNull()) {
    doc["state_dir"] = paths.root;
    repaired->push_back("state_dir: " + paths.root +
                        " (without it the proxy serves no sandbox, only a single default client)");
  } else if (!state_dir.IsScalar() || !sameDirectory(paths.root, state_dir.as<std::string>())) {
    return Status::error(
        file + ": state_dir is \"" + (state_dir.IsScalar() ? state_dir.as<std::string>() : "?") +
        "\" but kitgate's state directory is " + paths.root +
        "; kitgate owns state_dir: remove the line (kitgate writes it) or set it to " + paths.root);
  }
  YAML::Node admin = doc["admin_listen"];
  if (!admin || admin.IsNull() || (admin.IsScalar() && admin.as<std::string>().empty())) {
    doc["admin_listen"] = "unix:" + paths.adminSocket();
    repaired->push_back("admin_listen: unix:" + paths.adminSocket() +
                        " (kitgate reloads and checks the proxy through it)");
  }
  YAML::Node log = doc["policy_log"];
  if (!log || log.IsNull() || !log.IsMap() || !log["path"]) {
    YAML::Node fresh(YAML::NodeType::Map);
    if (log && log.IsMap()) fresh = log;
    fresh["path"] = paths.policyLog();
    doc["policy_log"] = fresh;
    repaired->push_back("policy_log.path: " + paths.policyLog() + " (kitgate policy log reads it)");
  }
  std::vector<std::string> transparent;
  if (!stringList(doc["transparent_listen"], &transparent)) {
    return shapeError(file, doc["transparent_listen"], "\"transparent_listen\" must be a list");
  }
  if (transparent.empty()) {
    YAML::Node seq(YAML::NodeType::Sequence);
    seq.push_back(std::string(kTransparentListen));
    doc["transparent_listen"] = seq;
    repaired->push_back("transparent_listen: [" + std::string(kTransparentListen) +
                        "] (the host rules send the sandboxes' other TCP there)");
  }
  std::vector<std::string> listen;
  if (!stringList(doc["listen"], &listen)) {
    return shapeError(file, doc["listen"], "\"listen\" must be a list");
  }
  if (listen.empty()) {
    YAML::Node seq(YAML::NodeType::Sequence);
    seq.push_back(std::string(kDefaultListen));
    doc["listen"] = seq;
    repaired->push_back("listen: [" + std::string(kDefaultListen) +
                        "] (the proxy refuses an empty listen list)");
  }
  return Status::ok();
}

// Adds/removes `addr` in the list `key` ("listen" or "dns_listen"), then reloads.
Status editListen(const Paths& paths, const std::string& key, const std::string& addr, bool add) {
  auto doc = loadProxyYaml(paths);
  if (!doc) return doc.status();
  std::vector<std::string> repaired;
  if (Status s = ownKeys(paths, *doc, &repaired); !s) return s;
  std::vector<std::string> listen;
  if (!stringList((*doc)[key], &listen)) {
    return shapeError(paths.proxyConfig(), (*doc)[key], "\"" + key + "\" must be a list");
  }
  const auto it = std::find(listen.begin(), listen.end(), addr);
  if (add == (it != listen.end()) && repaired.empty()) return reloadProxy(paths);
  if (add) {
    listen.push_back(addr);
  } else if (it != listen.end()) {
    listen.erase(it);
  }
  // The proxy refuses an empty list: the loopback entry stays.
  if (listen.empty() && key == "listen") listen.push_back(std::string(kDefaultListen));
  YAML::Node seq(YAML::NodeType::Sequence);
  for (const auto& l : listen) seq.push_back(l);
  (*doc)[key] = seq;
  YAML::Emitter e;
  e << *doc;
  Status st = writeFileAtomic(paths.proxyConfig(), finish(e, ""), 0600);
  if (!st) return st;
  return reloadProxy(paths);
}

}  // namespace

StatusOr<std::vector<std::string>> proxyListen(const Paths& paths) {
  auto doc = loadProxyYaml(paths);
  if (!doc) return doc.status();
  std::vector<std::string> listen;
  if (!stringList((*doc)["listen"], &listen)) {
    return shapeError(paths.proxyConfig(), (*doc)["listen"], "\"listen\" must be a list");
  }
  return listen;
}

StatusOr<std::vector<std::string>> repairProxyConfig(const Paths& paths) {
  std::vector<std::string> repaired;
  auto doc = loadProxyYaml(paths);
  if (!doc) return doc.status();
  if (Status s = ownKeys(paths, *doc, &repaired); !s) return s;
  if (repaired.empty()) return repaired;
  YAML::Emitter e;
  e << *doc;
  if (Status st = writeFileAtomic(paths.proxyConfig(), finish(e, ""), 0600); !st) return st;
  return repaired;
}

Status addProxyListen(const Paths& paths, const std::string& addr) {
  return editListen(paths, "listen", addr, true);
}

Status removeProxyListen(const Paths& paths, const std::string& addr) {
  return editListen(paths, "listen", addr, false);
}

Status pinTransparentListen(const Paths& paths, const std::vector<std::string>& bound) {
  auto doc = loadProxyYaml(paths);
  if (!doc) return doc.status();
  std::vector<std::string> listen;
  if (!stringList((*doc)["transparent_listen"], &listen)) return Status::ok();  // ownKeys says so
  bool changed = false;
  for (std::string& l : listen) {
    if (!l.ends_with(":0")) continue;
    const std::string host = l.substr(0, l.size() - 1);
    for (const std::string& b : bound) {
      if (b.rfind(host, 0) == 0 && b.size() > host.size()) {
        l = b;
        changed = true;
        break;
      }
    }
  }
  if (!changed) return Status::ok();
  YAML::Node seq(YAML::NodeType::Sequence);
  for (const auto& l : listen) seq.push_back(l);
  (*doc)["transparent_listen"] = seq;
  YAML::Emitter e;
  e << *doc;
  return writeFileAtomic(paths.proxyConfig(), finish(e, ""), 0600);
}

Status addProxyDnsListen(const Paths& paths, const std::string& addr) {
  return editListen(paths, "dns_listen", addr, true);
}

Status removeProxyDnsListen(const Paths& paths, const std::string& addr) {
  return editListen(paths, "dns_listen", addr, false);
}

}  // namespace kitgate::state
