// The only file of kitgate_sandbox that includes yaml-cpp: every yaml-cpp
// exception is caught here and turned into a diagnostic.
#include "proxy/sandbox/registry.h"

#include <sys/stat.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <utility>

#include "proxy/common/private_file.h"
#include "proxy/common/sandbox_name.h"
#include "proxy/common/yaml_keys.h"
#include "proxy/sandbox/credentials.h"

namespace kitgate::sandbox {

using policy::IpAddress;
using policy::Rule;
using policy::RuleError;
using policy::RuleSet;

namespace {

constexpr size_t kMinTokenLength = 16;
constexpr size_t kMaxTokenLength = 256;

bool validToken(std::string_view t) {
  if (t.size() < kMinTokenLength || t.size() > kMaxTokenLength) return false;
  return std::all_of(t.begin(), t.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u > 0x20 && u < 0x7f && c != ':';
  });
}

// "a.b.c.d", "a.b.c.d/len", "v6", "v6/len", "[v6]", "[v6]/len".
std::optional<std::pair<IpAddress, size_t>> parseSource(std::string_view text, std::string* why) {
  std::string_view addr = text;
  std::optional<size_t> prefix;
  if (const size_t slash = text.find('/'); slash != std::string_view::npos) {
    addr = text.substr(0, slash);
    std::string_view len = text.substr(slash + 1);
    if (len.empty() || len.size() > 3 ||
        !std::all_of(len.begin(), len.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      *why = "invalid prefix length";
      return std::nullopt;
    }
    prefix = static_cast<size_t>(std::stoul(std::string(len)));
  }
  if (addr.size() >= 2 && addr.front() == '[' && addr.back() == ']') {
    addr = addr.substr(1, addr.size() - 2);
  }
  auto ip = IpAddress::parse(addr);
  if (!ip) {
    *why = "invalid IP address (expected a.b.c.d, an IPv6 address, or a CIDR)";
    return std::nullopt;
  }
  const size_t len = prefix.value_or(ip->bitLength());
  if (len > ip->bitLength()) {
    *why = "prefix length too long for the address family";
    return std::nullopt;
  }
  if (ip->masked(len) != *ip) {
    *why = "host bits set in CIDR; did you mean " + ip->masked(len).toString() + "/" +
           std::to_string(len) + "?";
    return std::nullopt;
  }
  return std::make_pair(*ip, len);
}

bool overlaps(const IpAddress& a, size_t alen, const IpAddress& b, size_t blen) {
  if (a.family != b.family) return false;
  const size_t len = std::min(alen, blen);
  return a.masked(len) == b.masked(len);
}

std::optional<IpAddress> unmapped(const IpAddress& ip) {
  if (!ip.isV6()) return std::nullopt;
  for (size_t i = 0; i < 10; ++i) {
    if (ip.bytes[i] != 0) return std::nullopt;
  }
  if (ip.bytes[10] != 0xff || ip.bytes[11] != 0xff) return std::nullopt;
  return ip.embeddedV4();
}

struct PendingSandbox {
  std::unique_ptr<Sandbox> sandbox;
  RuleSource rules;
  std::shared_ptr<const RuleSet> own;                            // compiled `rules`
  std::vector<std::pair<std::string, size_t>> source_positions;  // "line:col", per source
};

}  // namespace

class RegistryBuilder {
 public:
  std::vector<std::string> errors;

  void error(const std::string& file, size_t line, size_t column, const std::string& msg) {
    std::string e = file;
    if (line > 0) e += ":" + std::to_string(line) + ":" + std::to_string(column);
    errors.push_back(e + ": error: " + msg);
  }
  void error(const std::string& file, const YAML::Mark& m, const std::string& msg) {
    if (m.is_null()) {
      error(file, 0, 0, msg);
    } else {
      error(file, static_cast<size_t>(m.line) + 1, static_cast<size_t>(m.column) + 1, msg);
    }
  }

  std::vector<Rule> parseEntries(const std::string& file, const std::vector<RuleEntry>& entries) {
    std::vector<Rule> rules;
    for (const RuleEntry& e : entries) {
      auto parsed = policy::parseRule(e.text);
      if (auto* err = std::get_if<RuleError>(&parsed)) {
        error(file, e.line, e.line > 0 ? e.column + err->column - 1 : 0,
              "invalid rule \"" + printableKey(e.text) + "\": " + err->message);
      } else {
        rules.push_back(std::move(std::get<Rule>(parsed)));
      }
    }
    return rules;
  }

  std::shared_ptr<const RuleSet> compile(const std::vector<const RuleSource*>& sources) {
    const size_t before = errors.size();
    std::vector<Rule> allow;
    std::vector<Rule> deny;
    for (const RuleSource* s : sources) {
      for (Rule& r : parseEntries(s->file, s->allow)) allow.push_back(std::move(r));
      for (Rule& r : parseEntries(s->file, s->deny)) deny.push_back(std::move(r));
    }
    if (errors.size() != before) return nullptr;
    auto set = RuleSet::compile(std::move(allow), std::move(deny));
    if (!set.isOk()) {
      error(sources.empty() ? std::string("rules") : sources.front()->file, 0, 0,
            set.status().message());
      return nullptr;
    }
    return std::move(set).value();
  }

  // A YAML sequence of strings into `out`.
  void readRuleList(const std::string& file, const YAML::Node& node, std::vector<RuleEntry>* out) {
    if (node.IsNull()) return;
    if (!node.IsSequence()) {
      error(file, node.Mark(), "expected a list of rules");
      return;
    }
    for (const YAML::Node& item : node) {
      if (!item.IsScalar()) {
        error(file, item.Mark(), "expected a rule (a string)");
        continue;
      }
      const YAML::Mark m = item.Mark();
      // A quoted scalar's mark is at its opening quote.
      const size_t quote = item.Tag() == "!" ? 1 : 0;
      out->push_back(RuleEntry{item.Scalar(), static_cast<size_t>(m.line) + 1,
                               static_cast<size_t>(m.column) + 1 + quote});
    }
  }

  // The shared key check (proxy/common/yaml_keys.h); fn(key, value, key mark).
  template <typename Fn>
  void forEachKey(const std::string& file, const YAML::Node& map,
                  std::initializer_list<std::string_view> known, Fn&& fn) {
    kitgate::forEachKey(
        map, {known}, [&](const YAML::Mark& m, const std::string& msg) { error(file, m, msg); },
        fn);
  }

  std::optional<YAML::Node> loadYaml(const std::string& file) {
    try {
      return YAML::LoadFile(file);
    } catch (const YAML::ParserException& e) {
      error(file, e.mark, e.msg);
    } catch (const YAML::Exception& e) {
      error(file, e.mark, e.msg);
    } catch (const std::exception& e) {
      error(file, 0, 0, e.what());
    }
    return std::nullopt;
  }

  void loadPolicyFile(const std::string& file, RuleSource* out) {
    auto doc = loadYaml(file);
    if (!doc) return;
    try {
      if (doc->IsNull()) return;
      if (!doc->IsMap()) {
        error(file, doc->Mark(), "expected a mapping with 'allow' and/or 'deny'");
        return;
      }
      forEachKey(file, *doc, {"allow", "deny"},
                 [&](const std::string& k, const YAML::Node& v, const YAML::Mark&) {
                   readRuleList(file, v, k == "allow" ? &out->allow : &out->deny);
                 });
    } catch (const YAML::Exception& e) {
      error(file, e.mark, e.msg);
    }
  }

  std::optional<PendingSandbox> loadSandboxFile(const std::filesystem::path& path) {
    const std::string file = path.string();
    const size_t before = errors.size();
    auto doc = loadYaml(file);
    if (!doc) return std::nullopt;
    PendingSandbox p;
    p.sandbox.reset(new Sandbox());
    Sandbox& sb = *p.sandbox;
    sb.file_ = file;
    p.rules.file = file;
    bool has_name = false;
    try {
      if (!doc->IsMap()) {
        error(file, doc->Mark(), "expected a mapping (name, match, allow, deny, limits)");
        return std::nullopt;
      }
      forEachKey(file, *doc, {"name", "match", "allow", "deny", "limits"},
                 [&](const std::string& k, const YAML::Node& v, const YAML::Mark& km) {
                   if (k == "name") {
                     has_name = true;
                     if (!v.IsScalar() || !validSandboxName(v.Scalar())) {
                       error(file, v.Mark(),
                             "invalid sandbox name (1-63 of a-z 0-9 - _ ., starting with a letter "
                             "or digit)");
                     } else if (v.Scalar() != path.stem().string()) {
                       error(file, v.Mark(),
                             "sandbox name \"" + v.Scalar() + "\" does not match the file name \"" +
                                 path.filename().string() + "\"");
                     } else {
                       sb.name_ = v.Scalar();
                     }
                   } else if (k == "allow" || k == "deny") {
                     readRuleList(file, v, k == "allow" ? &p.rules.allow : &p.rules.deny);
                   } else if (k == "match") {
                     readMatch(file, v, km, &p);
                   } else if (k == "limits") {
                     readLimits(file, v, &sb.limits_);
                   }
                 });
    } catch (const YAML::Exception& e) {
      error(file, e.mark, e.msg);
    }
    if (!has_name) error(file, 1, 1, "missing key \"name\"");
    if (sb.token_.empty() && sb.sources_.empty() && errors.size() == before) {
      error(file, 1, 1, "sandbox cannot be identified: set match.sources and/or match.token");
    }
    if (!sb.token_.empty()) {
      struct stat st {};
      if (::stat(file.c_str(), &st) == 0 && !privateFileMode(st)) {
        error(file, 0, 0, "file holds a token but is readable by group or others; chmod 600 it");
      }
    }
    // Rules are compiled (and their errors reported) even when the file has
    // other problems, so that every error shows up in one run.
    p.own = compile({&p.rules});
    if (errors.size() != before) return std::nullopt;
    return p;
  }

  void readMatch(const std::string& file, const YAML::Node& v, const YAML::Mark& km,
                 PendingSandbox* p) {
    if (!v.IsMap()) {
      error(file, v.IsNull() ? km : v.Mark(), "expected a mapping with 'sources' and/or 'token'");
      return;
    }
    forEachKey(file, v, {"sources", "token"},
               [&](const std::string& k, const YAML::Node& val, const YAML::Mark&) {
                 if (k == "token") {
                   // Never echo the value: it is a credential.
                   if (!val.IsScalar() || !validToken(val.Scalar())) {
                     error(file, val.Mark(),
                           "invalid token (16-256 printable characters, no spaces or ':')");
                   } else {
                     p->sandbox->token_ = val.Scalar();
                   }
                   return;
                 }
                 if (!val.IsSequence()) {
                   error(file, val.Mark(), "expected a list of IP addresses or CIDRs");
                   return;
                 }
                 for (const YAML::Node& s : val) {
                   std::string why;
                   auto parsed = s.IsScalar() ? parseSource(s.Scalar(), &why) : std::nullopt;
                   if (!parsed) {
                     error(file, s.Mark(),
                           "invalid source \"" + (s.IsScalar() ? printableKey(s.Scalar()) : "") +
                               "\": " + (why.empty() ? "expected a string" : why));
                     continue;
                   }
                   p->sandbox->sources_.push_back(Sandbox::Source{parsed->first, parsed->second});
                   p->source_positions.emplace_back(s.Scalar(),
                                                    static_cast<size_t>(s.Mark().line) + 1);
                 }
               });
  }

  void readLimits(const std::string& file, const YAML::Node& v, SandboxLimits* limits) {
    if (!v.IsMap()) {
      error(file, v.Mark(), "expected a mapping (max_connections)");
      return;
    }
    forEachKey(file, v, {"max_connections"},
               [&](const std::string&, const YAML::Node& val, const YAML::Mark&) {
                 const std::string s = val.IsScalar() ? val.Scalar() : "";
                 const bool digits =
                     !s.empty() && s.size() <= 9 &&
                     std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
                 const unsigned long n = digits ? std::stoul(s) : 0;
                 if (n == 0) {
                   error(file, val.Mark(), "max_connections must be a positive integer");
                 } else {
                   limits->max_connections = static_cast<uint32_t>(n);
                 }
               });
  }

  std::shared_ptr<const Registry> singleTenant(std::shared_ptr<const RuleSet> global) {
    std::shared_ptr<Registry> reg(new Registry());
    reg->global_ = global;
    auto sb = std::unique_ptr<Sandbox>(new Sandbox());
    sb->name_ = std::string(kDefaultSandboxName);
    sb->policy_ = policy::Policy({global});
    reg->by_name_.emplace(sb->name_, sb.get());
    reg->sandboxes_.push_back(std::move(sb));
    return reg;
  }

  std::shared_ptr<const Registry> multiTenant(std::shared_ptr<const RuleSet> global,
                                              std::vector<PendingSandbox> pending) {
    std::shared_ptr<Registry> reg(new Registry());
    reg->multi_tenant_ = true;
    reg->global_ = global;
    for (PendingSandbox& p : pending) p.sandbox->policy_ = policy::Policy({global, p.own});
    // Overlapping sources across sandboxes would make identification ambiguous.
    for (size_t i = 0; i < pending.size(); ++i) {
      const Sandbox& a = *pending[i].sandbox;
      for (size_t j = i + 1; j < pending.size(); ++j) {
        const Sandbox& b = *pending[j].sandbox;
        for (size_t x = 0; x < a.sources_.size(); ++x) {
          for (size_t y = 0; y < b.sources_.size(); ++y) {
            if (!overlaps(a.sources_[x].network, a.sources_[x].prefix_len, b.sources_[y].network,
                          b.sources_[y].prefix_len)) {
              continue;
            }
            error(b.file_, pending[j].source_positions[y].second, 1,
                  "source \"" + pending[j].source_positions[y].first + "\" overlaps source \"" +
                      pending[i].source_positions[x].first + "\" of sandbox \"" + a.name_ + "\" (" +
                      a.file_ + ":" + std::to_string(pending[i].source_positions[x].second) + ")");
          }
        }
      }
    }
    if (!errors.empty()) return nullptr;
    for (PendingSandbox& p : pending) {
      Sandbox* sb = p.sandbox.get();
      for (const auto& s : sb->sources_) reg->by_source_.insert(s.network, s.prefix_len, sb);
      reg->by_name_.emplace(sb->name_, sb);
      reg->sandboxes_.push_back(std::move(p.sandbox));
    }
    return reg;
  }

  Status status() const {
    std::string msg;
    for (const std::string& e : errors) {
      if (!msg.empty()) msg += '\n';
      msg += e;
    }
    return Status::error(msg);
  }
};

const Sandbox* Registry::find(std::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

const Sandbox* Registry::identify(const IpAddress& client,
                                  std::optional<std::string_view> proxy_authorization) const {
  if (!multi_tenant_) return sandboxes_.empty() ? nullptr : sandboxes_.front().get();
  const IpAddress addr = unmapped(client).value_or(client);
  const Sandbox* const* by_source = by_source_.longestMatch(addr);
  const Sandbox* source_match = by_source ? *by_source : nullptr;

  if (!proxy_authorization) {
    if (source_match != nullptr && !source_match->requiresToken()) return source_match;
    return nullptr;
  }
  auto creds = parseProxyAuthorization(*proxy_authorization);
  if (!creds) return nullptr;
  const Sandbox* token_match = nullptr;
  if (creds->sandbox) {
    const Sandbox* named = find(*creds->sandbox);
    if (named != nullptr && named->requiresToken() &&
        constantTimeEquals(named->token_, creds->token)) {
      token_match = named;
    }
  } else {
    // Bearer: compare against every token, without stopping early.
    for (const auto& sb : sandboxes_) {
      const bool equal = sb->requiresToken() && constantTimeEquals(sb->token_, creds->token);
      if (equal && token_match == nullptr) token_match = sb.get();
    }
  }
  if (token_match == nullptr) return nullptr;
  if (source_match != nullptr && source_match != token_match) return nullptr;
  if (!token_match->sources_.empty() && source_match != token_match) return nullptr;
  return token_match;
}

const Sandbox* Registry::identifyBySource(const IpAddress& client) const {
  if (!multi_tenant_) return sandboxes_.empty() ? nullptr : sandboxes_.front().get();
  const Sandbox* const* by_source = by_source_.longestMatch(unmapped(client).value_or(client));
  return by_source ? *by_source : nullptr;
}

StatusOr<std::shared_ptr<const Registry>> singleTenantRegistry(
    const std::vector<RuleSource>& global) {
  RegistryBuilder b;
  std::vector<const RuleSource*> sources;
  for (const RuleSource& s : global) sources.push_back(&s);
  auto rules = b.compile(sources);
  if (!rules) return b.status();
  return b.singleTenant(std::move(rules));
}

StatusOr<std::shared_ptr<const Registry>> loadRegistry(
    const std::string& state_dir, const std::vector<RuleSource>& extra_global) {
  namespace fs = std::filesystem;
  RegistryBuilder b;
  std::error_code ec;
  if (!fs::is_directory(state_dir, ec)) {
    return Status::error(state_dir + ": error: state directory does not exist");
  }
  RuleSource policy_file;
  policy_file.file = (fs::path(state_dir) / "policy.yaml").string();
  // Absent means absent; anything else that is there (a dangling symlink, a
  // directory, an unreadable file) is read and fails the load loudly: a
  // reload never drops the global deny list silently.
  if (fs::symlink_status(policy_file.file, ec).type() != fs::file_type::not_found) {
    if (fs::is_regular_file(policy_file.file, ec)) {  // follows symlinks
      b.loadPolicyFile(policy_file.file, &policy_file);
    } else {  // never handed to the YAML reader (it leaks on a directory)
      b.errors.push_back(policy_file.file + ": error: not a regular file (a dangling symlink?)");
    }
  }

  std::vector<fs::path> files;
  const fs::path dir = fs::path(state_dir) / "sandboxes";
  if (fs::is_directory(dir, ec)) {
    for (const auto& e : fs::directory_iterator(dir, ec)) {
      const std::string fname = e.path().filename().string();
      if (fname.empty() || fname[0] == '.' || e.path().extension() != ".yaml") continue;
      if (!e.is_regular_file(ec)) {  // follows symlinks: dangling or not a file
        b.errors.push_back(e.path().string() + ": error: not a regular file (a dangling symlink?)");
        continue;
      }
      files.push_back(e.path());
    }
    if (ec) return Status::error(dir.string() + ": error: " + ec.message());
  }
  std::sort(files.begin(), files.end());

  std::vector<const RuleSource*> global_sources{&policy_file};
  for (const RuleSource& s : extra_global) global_sources.push_back(&s);
  auto global = b.compile(global_sources);
  std::vector<PendingSandbox> pending;
  for (const fs::path& f : files) {
    if (auto p = b.loadSandboxFile(f)) pending.push_back(std::move(*p));
  }
  if (!b.errors.empty()) return b.status();
  if (files.empty()) return b.singleTenant(std::move(global));
  auto reg = b.multiTenant(std::move(global), std::move(pending));
  if (!reg) return b.status();
  return reg;
}

}  // namespace kitgate::sandbox
