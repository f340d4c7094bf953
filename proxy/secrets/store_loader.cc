// The only file of kitgate_secrets that includes yaml-cpp: every yaml-cpp
// exception is caught here and turned into a diagnostic. Reads secrets.yaml
// and credentials/*.yaml into a validated StoreModel (store_model.h).
//
// No message built here contains a secret value: values are only ever
// checked, never quoted, and yaml-cpp's own messages are cut before any
// detail they copy from the document (secrets.yaml only). As a last guard,
// every value read is redacted from the final error text.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>
#include <set>

#include "proxy/common/private_file.h"
#include "proxy/common/sandbox_name.h"
#include "proxy/common/unique_fd.h"
#include "proxy/common/yaml_keys.h"
#include "proxy/http/message.h"
#include "proxy/http/serialize.h"
#include "proxy/secrets/store_model.h"

namespace kitgate::secrets {
namespace {

namespace fs = std::filesystem;

constexpr size_t kMaxFileBytes = 16 << 20;
constexpr size_t kMinPlaceholderLength = 8;
constexpr size_t kMaxNameLength = 128;

bool isControl(char c) {
  const auto u = static_cast<unsigned char>(c);
  return (u < 0x20 && c != '\t') || u == 0x7f;
}
bool hasControl(std::string_view s) { return std::any_of(s.begin(), s.end(), isControl); }
bool isDigit(char c) { return c >= '0' && c <= '9'; }
bool isAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// RFC 9110 tchar.
bool isTokenChar(char c) {
  return isAlpha(c) || isDigit(c) || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool validServiceName(std::string_view n) {
  if (n.empty() || n.size() > kMaxNameLength) return false;
  return std::all_of(n.begin(), n.end(), [](char c) {
    return isAlpha(c) || isDigit(c) || c == '-' || c == '_' || c == '.';
  });
}

bool validEnvName(std::string_view n) {
  if (n.empty() || n.size() > kMaxNameLength || isDigit(n[0])) return false;
  return std::all_of(n.begin(), n.end(), [](char c) { return isAlpha(c) || isDigit(c) || c == '_'; });
}

// Why a header name cannot carry an injection, or empty when it can.
std::string headerNameProblem(std::string_view n) {
  if (n.empty() || !std::all_of(n.begin(), n.end(), isTokenChar)) {
    return "invalid header name (expected an HTTP token such as Authorization or X-Api-Key)";
  }
  if (http::isHopByHop(n) || http::equalsIgnoreCase(n, "host") ||
      http::equalsIgnoreCase(n, "content-length") || http::equalsIgnoreCase(n, "expect")) {
    return "header \"" + std::string(n) +
           "\" cannot carry a credential (hop-by-hop, framing or routing field)";
  }
  return {};
}

// Why a format cannot be used, or empty: exactly one %s, "%%" for '%'.
std::string formatProblem(std::string_view f) {
  if (hasControl(f)) return "format contains a control character";
  int count = 0;
  for (size_t i = 0; i < f.size(); ++i) {
    if (f[i] != '%') continue;
    if (i + 1 < f.size() && f[i + 1] == 's') {
      ++count;
    } else if (i + 1 >= f.size() || f[i + 1] != '%') {
      return "format may only use %s (the secret) and %% (a literal '%')";
    }
    ++i;
  }
  if (count != 1) return "format must contain exactly one %s";
  return {};
}

std::string usernameProblem(std::string_view u) {
  if (u.empty() || u.find(':') != std::string_view::npos || hasControl(u)) {
    return "username must be non-empty, without ':' or control characters";
  }
  return {};
}

constexpr std::string_view kServiceRule = "letters, digits, - _ .";

std::string printable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 200)) out.push_back(isControl(c) ? '?' : c);
  return out;
}

class Loader {
 public:
  explicit Loader(std::string state_dir) : state_dir_(std::move(state_dir)) {}

  StatusOr<StoreModel> run() {
    std::error_code ec;
    const fs::path secrets = fs::path(state_dir_) / "secrets.yaml";
    if (auto text = readFile(secrets.string(), /*secret=*/true)) {
      if (auto doc = parse(secrets.string(), *text, /*secret=*/true)) {
        in_secrets_file_ = true;
        readSecrets(secrets.string(), *doc);
        in_secrets_file_ = false;
      }
    }
    const fs::path dir = fs::path(state_dir_) / "credentials";
    std::vector<fs::path> files;
    if (fs::is_directory(dir, ec)) {
      for (const auto& e : fs::directory_iterator(dir, ec)) {
        const std::string name = e.path().filename().string();
        if (name.empty() || name[0] == '.' || e.path().extension() != ".yaml") continue;
        files.push_back(e.path());
      }
      if (ec) error(dir.string(), 0, 0, "cannot list directory: " + ec.message());
    }
    std::sort(files.begin(), files.end());
    for (const fs::path& f : files) {
      const std::string file = f.string();
      const std::string stem = f.stem().string();
      if (!validSandboxName(stem)) {
        error(file, 0, 0, "file name must be <sandbox>.yaml, the sandbox name 1-63 of a-z 0-9 - _ . "
                          "(first: letter or digit)");
        continue;
      }
      auto text = readFile(file, /*secret=*/false);
      if (!text) continue;
      auto doc = parse(file, *text, /*secret=*/false);
      if (!doc) continue;
      SandboxRoutes routes;
      routes.sandbox = stem;
      readRoutes(file, *doc, &routes);
      model_.sandboxes.push_back(std::move(routes));
    }
    if (errors_.empty()) return std::move(model_);
    return Status::error(joinedErrors());
  }

 private:
  // ` "text"` for messages about credential files; nothing in secrets.yaml,
  // where a misplaced value could sit in any field (line:column points at it).
  std::string quoted(std::string_view text) const {
    return in_secrets_file_ ? std::string() : " \"" + printable(text) + "\"";
  }

  void error(const std::string& file, size_t line, size_t column, const std::string& msg) {
    std::string e = file;
    if (line > 0) e += ":" + std::to_string(line) + ":" + std::to_string(column);
    errors_.push_back(e + ": error: " + msg);
  }
  void error(const std::string& file, const YAML::Mark& m, const std::string& msg) {
    if (m.is_null()) return error(file, 0, 0, msg);
    error(file, static_cast<size_t>(m.line) + 1, static_cast<size_t>(m.column) + 1, msg);
  }

  std::string joinedErrors() const {
    std::string msg;
    for (const std::string& e : errors_) msg += (msg.empty() ? "" : "\n") + e;
    // Last guard: no value read from secrets.yaml may appear in the text.
    for (const std::string& v : values_seen_) {
      if (v.size() < 4) continue;  // would garble the text; nothing here quotes values anyway
      for (size_t at = msg.find(v); at != std::string::npos; at = msg.find(v, at)) {
        msg.replace(at, v.size(), "<redacted>");
      }
    }
    return msg;
  }

  // The whole file, or nullopt (absent: silently; other problems: reported).
  // Secret files must be regular files without group/other permissions,
  // checked on the opened descriptor (no race with a rename).
  std::optional<std::string> readFile(const std::string& file, bool secret) {
    UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
    if (!fd.valid()) {
      const int err = errno;
      struct stat lst {};
      if (err != ENOENT) {
        error(file, 0, 0, std::string("cannot open: ") + std::strerror(err));
      } else if (::lstat(file.c_str(), &lst) == 0) {
        error(file, 0, 0, "cannot open: a dangling symlink");  // there, but unreadable: never "absent"
      }
      return std::nullopt;
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) {
      error(file, 0, 0, std::string("cannot stat: ") + std::strerror(errno));
      return std::nullopt;
    }
    if (!S_ISREG(st.st_mode)) {
      error(file, 0, 0, "not a regular file");
      return std::nullopt;
    }
    if (secret && !privateFileMode(st)) {
      char mode[8];
      std::snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(st.st_mode & 07777));
      error(file, 0, 0, std::string("holds secrets but is accessible by group or others (mode ") + mode +
                            "); chmod 600 it");
      return std::nullopt;
    }
    if (static_cast<uint64_t>(st.st_size) > kMaxFileBytes) {
      error(file, 0, 0, "file too large (more than 16 MiB)");
      return std::nullopt;
    }
    std::string text;
    char buf[16384];
    for (;;) {
      const ssize_t n = ::read(fd.get(), buf, sizeof(buf));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        error(file, 0, 0, std::string("cannot read: ") + std::strerror(errno));
        return std::nullopt;
      }
      if (n == 0) break;
      text.append(buf, static_cast<size_t>(n));
      if (text.size() > kMaxFileBytes) {
        error(file, 0, 0, "file too large (more than 16 MiB)");
        return std::nullopt;
      }
    }
    return text;
  }

  std::optional<YAML::Node> parse(const std::string& file, const std::string& text, bool secret) {
    try {
      return YAML::Load(text);
    } catch (const YAML::Exception& e) {
      // Some yaml-cpp messages quote document bytes after a ':' ("unknown
      // escape character: x"); in a secrets file those could be a value.
      std::string msg = e.msg;
      if (secret) msg = msg.substr(0, msg.find(':'));
      error(file, e.mark, msg.empty() ? "invalid YAML" : msg);
    } catch (const std::exception&) {
      error(file, 0, 0, "invalid YAML");
    }
    return std::nullopt;
  }

  // The shared key check (proxy/common/yaml_keys.h); an unknown key in the
  // secrets file is not echoed. Returns the keys seen.
  template <typename Fn>
  std::set<std::string> forEachKey(const std::string& file, const YAML::Node& map,
                                   std::initializer_list<std::string_view> known, Fn&& fn) {
    return kitgate::forEachKey(
        map, {known, {}, !in_secrets_file_},
        [&](const YAML::Mark& m, const std::string& msg) { error(file, m, msg); }, fn);
  }

  // Reports each of `required` missing from `seen`; false if any is.
  bool requireKeys(const std::string& file, const YAML::Node& entry, const std::set<std::string>& seen,
                   std::initializer_list<std::string_view> required) {
    bool ok = true;
    for (std::string_view name : required) {
      if (seen.count(std::string(name)) != 0) continue;
      error(file, entry.Mark(), "missing key \"" + std::string(name) + "\"");
      ok = false;
    }
    return ok;
  }

  // A scalar that `valid` accepts, else an error "invalid <what> …".
  std::optional<std::string> name(const std::string& file, const YAML::Node& v, std::string_view key,
                                  bool (*valid)(std::string_view), std::string_view rule) {
    auto n = scalar(file, v, key);
    if (!n) return std::nullopt;
    if (valid(*n)) return n;
    error(file, v.Mark(), "invalid " + std::string(key) + " name" + quoted(*n) + " (" + std::string(rule) + ")");
    return std::nullopt;
  }

  // A list of mappings under `key` of the top-level map.
  template <typename Fn>
  void forEachEntry(const std::string& file, const YAML::Node& list, std::string_view what, Fn&& fn) {
    if (list.IsNull()) return;
    if (!list.IsSequence()) {
      error(file, list.Mark(), "expected a list of " + std::string(what) + "s");
      return;
    }
    for (const YAML::Node& entry : list) {
      if (!entry.IsMap()) {
        error(file, entry.Mark(), "expected a mapping (one " + std::string(what) + ")");
        continue;
      }
      fn(entry);
    }
  }

  std::optional<std::string> scalar(const std::string& file, const YAML::Node& v, std::string_view key) {
    if (!v.IsScalar()) {
      error(file, v.Mark(), "\"" + std::string(key) + "\" must be a string");
      return std::nullopt;
    }
    return v.Scalar();
  }

  // "global" -> "", "sandbox:<n>" -> n.
  std::optional<std::string> scope(const std::string& file, const YAML::Node& v) {
    auto s = scalar(file, v, "scope");
    if (!s) return std::nullopt;
    if (*s == "global") return std::string();
    constexpr std::string_view kPrefix = "sandbox:";
    if (s->rfind(kPrefix, 0) == 0 && validSandboxName(std::string_view(*s).substr(kPrefix.size()))) {
      return s->substr(kPrefix.size());
    }
    error(file, v.Mark(), "invalid scope" + quoted(*s) + " (expected global or sandbox:<name>)");
    return std::nullopt;
  }

  // Reads a secret value: never quoted in any message.
  std::optional<std::string> secretValue(const std::string& file, const YAML::Node& v) {
    if (!v.IsScalar()) {
      error(file, v.Mark(), "\"value\" must be a string");
      return std::nullopt;
    }
    values_seen_.push_back(v.Scalar());
    if (v.Scalar().empty()) {
      error(file, v.Mark(), "secret value is empty");
      return std::nullopt;
    }
    if (hasControl(v.Scalar())) {
      error(file, v.Mark(),
            "secret value contains a control character (CR, LF, NUL …); a value must be one line "
            "(strip the trailing newline)");
      return std::nullopt;
    }
    const char first = v.Scalar().front(), last = v.Scalar().back();
    if (first == ' ' || first == '\t' || last == ' ' || last == '\t') {
      error(file, v.Mark(), "secret value starts or ends with whitespace (HTTP would strip it)");
      return std::nullopt;
    }
    return v.Scalar();
  }

  void hostList(const std::string& file, const YAML::Node& v, std::string_view key,
                std::vector<HostPattern>* out, bool* ok) {
    if (!v.IsSequence() || v.size() == 0) {
      error(file, v.Mark(), "\"" + std::string(key) + "\" must be a non-empty list of hosts");
      *ok = false;
      return;
    }
    for (const YAML::Node& h : v) {
      if (!h.IsScalar()) {
        error(file, h.Mark(), "expected a host (a string)");
        *ok = false;
        continue;
      }
      auto parsed = parseHostPattern(h.Scalar());
      if (auto* e = std::get_if<policy::RuleError>(&parsed)) {
        const YAML::Mark m = h.Mark();
        const size_t quote = h.Tag() == "!" ? 1 : 0;  // a quoted scalar's mark is its quote
        error(file, static_cast<size_t>(m.line) + 1,
              static_cast<size_t>(m.column) + quote + e->column,
              "invalid host" + quoted(h.Scalar()) + ": " + e->message);
        *ok = false;
        continue;
      }
      out->push_back(std::move(std::get<HostPattern>(parsed)));
    }
  }

  void readSecrets(const std::string& file, const YAML::Node& doc) {
    try {
      if (doc.IsNull()) return;
      if (!doc.IsMap()) {
        error(file, doc.Mark(), "expected a mapping with 'services' and/or 'custom'");
        return;
      }
      forEachKey(file, doc, {"services", "custom"}, [&](const std::string& k, const YAML::Node& v) {
        if (k == "services") {
          forEachEntry(file, v, "service secret", [&](const YAML::Node& e) { readService(file, e); });
        } else {
          forEachEntry(file, v, "custom secret", [&](const YAML::Node& e) { readCustom(file, e); });
        }
      });
    } catch (const YAML::Exception& e) {
      error(file, e.mark, std::string(e.msg).substr(0, e.msg.find(':')));
    }
  }

  // Stores a parsed field, or clears `ok` when it was refused.
  template <typename T>
  static void keep(std::optional<T> parsed, T* out, bool* ok) {
    if (parsed) {
      *out = std::move(*parsed);
    } else {
      *ok = false;
    }
  }

  void readService(const std::string& file, const YAML::Node& entry) {
    ServiceSecret s;
    bool ok = true;
    const auto seen = forEachKey(file, entry, {"service", "scope", "value"},
                                 [&](const std::string& k, const YAML::Node& v) {
      if (k == "service") keep(name(file, v, k, validServiceName, kServiceRule), &s.service, &ok);
      if (k == "scope") keep(scope(file, v), &s.sandbox, &ok);
      if (k == "value") keep(secretValue(file, v), &s.value, &ok);
    });
    ok = requireKeys(file, entry, seen, {"service", "scope", "value"}) && ok;
    if (!ok) return;
    const std::string key = s.service + "\n" + s.sandbox;
    if (auto [it, fresh] = service_lines_.emplace(key, entry.Mark().line + 1); !fresh) {
      error(file, entry.Mark(), "duplicate secret for the same service and scope (first at line " +
                                    std::to_string(it->second) + ")");
      return;
    }
    model_.services.push_back(std::move(s));
  }

  std::optional<std::string> placeholder(const std::string& file, const YAML::Node& v) {
    auto p = scalar(file, v, "placeholder");
    if (!p) return std::nullopt;
    std::string why;
    if (p->size() < kMinPlaceholderLength) {
      why = "placeholder must be at least 8 characters (it replaces every occurrence)";
    } else if (!std::all_of(p->begin(), p->end(), [](char ch) { return ch > 0x20 && ch < 0x7f; })) {
      why = "placeholder must be printable ASCII without spaces";
    } else if (kProxyManagedSentinel.find(*p) != std::string_view::npos) {
      why = "placeholder cannot be (part of) the sentinel \"proxy-managed\", which is never substituted";
    }
    if (why.empty()) return p;
    error(file, v.Mark(), why);
    return std::nullopt;
  }

  void readCustom(const std::string& file, const YAML::Node& entry) {
    CustomSecret c;
    bool ok = true;
    const auto seen = forEachKey(file, entry, {"scope", "hosts", "env", "placeholder", "value"},
                                 [&](const std::string& k, const YAML::Node& v) {
      if (k == "scope") keep(scope(file, v), &c.sandbox, &ok);
      if (k == "hosts") hostList(file, v, k, &c.hosts, &ok);
      if (k == "env") keep(name(file, v, k, validEnvName, "a shell identifier"), &c.env, &ok);
      if (k == "placeholder") keep(placeholder(file, v), &c.placeholder, &ok);
      if (k == "value") keep(secretValue(file, v), &c.value, &ok);
    });
    ok = requireKeys(file, entry, seen, {"scope", "hosts", "env", "placeholder", "value"}) && ok;
    if (ok) model_.customs.push_back(std::move(c));
  }

  void readRoutes(const std::string& file, const YAML::Node& doc, SandboxRoutes* out) {
    try {
      if (doc.IsNull()) return;
      if (!doc.IsMap()) {
        error(file, doc.Mark(), "expected a mapping with 'routes'");
        return;
      }
      forEachKey(file, doc, {"routes"}, [&](const std::string&, const YAML::Node& v) {
        forEachEntry(file, v, "route", [&](const YAML::Node& e) { readRoute(file, e, out); });
      });
    } catch (const YAML::Exception& e) {
      error(file, e.mark, e.msg);
    }
  }

  void readRoute(const std::string& file, const YAML::Node& entry, SandboxRoutes* out) {
    Route r;
    bool ok = true;
    YAML::Mark header_mark, format_mark;
    // A check on a scalar field: empty = accepted, else the message.
    auto field = [&](const YAML::Node& v, std::string_view key, std::string* dst,
                     std::string (*problem)(std::string_view)) {
      auto s = scalar(file, v, key);
      const std::string why = s ? problem(*s) : std::string();
      if (!s || !why.empty()) {
        if (!why.empty()) error(file, v.Mark(), why);
        ok = false;
        return;
      }
      *dst = *s;
    };
    const auto seen = forEachKey(file, entry, {"service", "domains", "header", "format", "username"},
                                 [&](const std::string& k, const YAML::Node& v) {
      if (k == "service") keep(name(file, v, k, validServiceName, kServiceRule), &r.service, &ok);
      if (k == "domains") hostList(file, v, k, &r.domains, &ok);
      if (k == "header") {
        header_mark = v.Mark();
        field(v, k, &r.header, headerNameProblem);
      }
      if (k == "format") {
        format_mark = v.Mark();
        field(v, k, &r.format, formatProblem);
      }
      if (k == "username") field(v, k, &r.username, usernameProblem);
    });
    ok = requireKeys(file, entry, seen, {"service", "domains"}) && ok;
    if (seen.count("username") == 0 && seen.count("header") != 0 && seen.count("format") == 0) {
      error(file, header_mark, "header needs a format with one %s (e.g. \"Bearer %s\")");
      ok = false;
    } else if (seen.count("username") == 0 && seen.count("header") == 0 && seen.count("format") != 0) {
      error(file, format_mark, "format needs a header");
      ok = false;
    }
    if (!ok) return;
    if (!r.username.empty() && r.header.empty()) r.header = "Authorization";
    if (!r.username.empty() && r.format.empty()) r.format = "%s";
    out->routes.push_back(std::move(r));
  }

  std::string state_dir_;
  bool in_secrets_file_ = false;
  StoreModel model_;
  std::vector<std::string> errors_;
  std::vector<std::string> values_seen_;
  std::unordered_map<std::string, size_t> service_lines_;  // service \n scope -> line
};

}  // namespace

StatusOr<StoreModel> readStoreFiles(const std::string& state_dir) { return Loader(state_dir).run(); }

}  // namespace kitgate::secrets
