#include "proxy/secrets/oauth.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "proxy/common/hex.h"
#include "proxy/common/private_file.h"
#include "proxy/common/sandbox_name.h"
#include "proxy/common/unique_fd.h"
#include "proxy/secrets/store_model.h"
#include "proxy/secrets/text.h"

namespace kitgate::secrets {

using nlohmann::json;

namespace {

std::string errnoText() { return std::strerror(errno); }

// Reads `path`; nullopt text when it does not exist. `private_only`: the
// file must pass privateFileMode.
StatusOr<std::optional<std::string>> readFile(const std::string& path, bool private_only) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return std::optional<std::string>();
    return Status::error(path + ": " + errnoText());
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return Status::error(path + ": " + errnoText());
  if (!S_ISREG(st.st_mode)) return Status::error(path + ": not a regular file");
  if (private_only && !privateFileMode(st)) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return Status::error(path +
                         ": error: holds secrets but is accessible by group or others (mode " +
                         mode + "); chmod 600 it");
  }
  std::string text;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::error(path + ": " + errnoText());
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > (1u << 20)) return Status::error(path + ": larger than 1 MiB");
  }
  return std::optional<std::string>(std::move(text));
}

Status writePrivateAtomically(const std::string& path, std::string_view text) {
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
  const std::string tmp =
      dir + "/." + path.substr(slash == std::string::npos ? 0 : slash + 1) + ".tmp";
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return Status::error(dir + ": " + errnoText());
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd.valid()) return Status::error(tmp + ": " + errnoText());
  if (::fchmod(fd.get(), 0600) != 0) return Status::error(tmp + ": " + errnoText());
  size_t off = 0;
  while (off < text.size()) {
    ssize_t n = ::write(fd.get(), text.data() + off, text.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      ::unlink(tmp.c_str());
      return Status::error(tmp + ": " + errnoText());
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd.get()) != 0 || ::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return Status::error(path + ": " + errnoText());
  }
  return Status::ok();
}

std::string stringField(const json& o, const char* key) {
  auto it = o.find(key);
  return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

std::string_view stateName(OAuthTokens::State s) {
  return s == OAuthTokens::State::kOk ? "ok" : "refresh-failed";
}

namespace {

std::string formDecode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '+') {
      out += ' ';
    } else if (in[i] == '%' && i + 2 < in.size() && hexValue(in[i + 1]) >= 0 &&
               hexValue(in[i + 2]) >= 0) {
      out += static_cast<char>(hexValue(in[i + 1]) * 16 + hexValue(in[i + 2]));
      i += 2;
    } else {
      out += in[i];
    }
  }
  return out;
}

}  // namespace

std::optional<std::string> tokenRequestField(std::string_view body, bool form,
                                             std::string_view name) {
  if (!form) {
    json doc = json::parse(body, nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) return std::nullopt;
    auto it = doc.find(name);
    if (it == doc.end() || !it->is_string()) return std::nullopt;
    return it->get<std::string>();
  }
  while (!body.empty()) {
    const size_t amp = body.find('&');
    const std::string_view pair = body.substr(0, amp);
    body = amp == std::string_view::npos ? std::string_view() : body.substr(amp + 1);
    const size_t eq = pair.find('=');
    if (formDecode(pair.substr(0, eq)) != name) continue;
    return eq == std::string_view::npos ? std::string() : formDecode(pair.substr(eq + 1));
  }
  return std::nullopt;
}

int64_t unixMillisNow() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string oauthRoutesPath(std::string_view state_dir, std::string_view sandbox) {
  return std::string(state_dir) + "/oauth/" + std::string(sandbox) + ".json";
}

std::string oauthTokensPath(std::string_view state_dir, std::string_view sandbox) {
  return std::string(state_dir) + "/oauth/" + std::string(sandbox) + ".tokens.json";
}

StatusOr<std::vector<OAuthRoute>> parseOAuthRoutes(std::string_view text, std::string_view file) {
  const std::string where(file);
  json doc = json::parse(text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object())
    return Status::error(where + ": error: not a JSON object");
  std::vector<std::string> errors;
  std::vector<OAuthRoute> routes;
  auto list = doc.find("credentials");
  if (list == doc.end() || !list->is_array()) {
    return Status::error(where + ": error: \"credentials\" must be a list");
  }
  std::set<std::string> seen;
  for (size_t i = 0; i < list->size(); ++i) {
    const json& c = (*list)[i];
    const std::string at = where + ": error: credentials[" + std::to_string(i) + "]: ";
    if (!c.is_object()) {
      errors.push_back(at + "not an object");
      continue;
    }
    OAuthRoute r;
    r.service = stringField(c, "service");
    r.passthrough = c.value("passthrough", false);
    if (auto te = c.find("token_endpoint"); te != c.end() && te->is_object()) {
      r.token_host = stringField(*te, "host");
      r.token_path = stringField(*te, "path");
    }
    if (auto rh = c.find("resource_hosts"); rh != c.end() && rh->is_array()) {
      for (const json& h : *rh) {
        if (h.is_string()) r.resource_hosts.push_back(h.get<std::string>());
      }
    }
    if (auto s = c.find("sentinels"); s != c.end() && s->is_object()) {
      r.access_sentinel = stringField(*s, "access_token");
      r.refresh_sentinel = stringField(*s, "refresh_token");
    }
    if (auto f = c.find("response_fields"); f != c.end() && f->is_object()) {
      auto pick = [&](const char* key, std::string& into) {
        std::string v = stringField(*f, key);
        if (!v.empty()) into = std::move(v);
      };
      pick("access_token", r.access_field);
      pick("refresh_token", r.refresh_field);
      pick("expires_in", r.expires_in_field);
      pick("scope", r.scope_field);
    }
    if (r.service.empty()) errors.push_back(at + "service is required");
    if (!seen.insert(r.service).second) errors.push_back(at + "service " + r.service + " twice");
    if (r.token_host.empty()) errors.push_back(at + "token_endpoint.host is required");
    if (r.token_path.empty() || r.token_path[0] != '/')
      errors.push_back(at + "token_endpoint.path must start with /");
    if (!r.passthrough && (r.access_sentinel.size() < 8 || r.refresh_sentinel.size() < 8))
      errors.push_back(at +
                       "sentinels.access_token and sentinels.refresh_token need 8+ characters");
    for (auto& h : r.resource_hosts) {
      for (char& ch : h) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    }
    for (char& ch : r.token_host)
      ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    routes.push_back(std::move(r));
  }
  if (!errors.empty()) {
    std::string all;
    for (const auto& e : errors) all += (all.empty() ? "" : "\n") + e;
    return Status::error(all);
  }
  return routes;
}

std::string renderOAuthRoutes(const std::vector<OAuthRoute>& routes) {
  json list = json::array();
  for (const OAuthRoute& r : routes) {
    json c = {
        {"service", r.service},
        {"token_endpoint", {{"host", r.token_host}, {"path", r.token_path}}},
        {"resource_hosts", r.resource_hosts},
        {"sentinels", {{"access_token", r.access_sentinel}, {"refresh_token", r.refresh_sentinel}}},
        {"response_fields",
         {{"access_token", r.access_field},
          {"refresh_token", r.refresh_field},
          {"expires_in", r.expires_in_field},
          {"scope", r.scope_field}}},
        {"passthrough", r.passthrough}};
    list.push_back(std::move(c));
  }
  return json{{"credentials", list}}.dump(2) + "\n";
}

StatusOr<std::map<std::string, OAuthTokens>> parseOAuthTokens(std::string_view text,
                                                              std::string_view file) {
  json doc = json::parse(text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object())
    return Status::error(std::string(file) + ": error: not a JSON object");
  std::map<std::string, OAuthTokens> out;
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    if (!it->is_object()) {
      return Status::error(std::string(file) + ": error: " + it.key() + ": not an object");
    }
    OAuthTokens t;
    t.access_token = stringField(*it, "access_token");
    t.refresh_token = stringField(*it, "refresh_token");
    t.scope = stringField(*it, "scope");
    t.error = stringField(*it, "error");
    t.expires_at_ms = it->value("expires_at_ms", int64_t{0});
    t.updated_at_ms = it->value("updated_at_ms", int64_t{0});
    const int64_t port = it->value("token_port", int64_t{443});
    t.token_port = port > 0 && port < 65536 ? static_cast<uint16_t>(port) : 443;
    t.state = stringField(*it, "state") == "refresh-failed" ? OAuthTokens::State::kRefreshFailed
                                                            : OAuthTokens::State::kOk;
    t.client_id = stringField(*it, "client_id");  // absent in files written before them
    t.client_secret = stringField(*it, "client_secret");
    out.emplace(it.key(), std::move(t));
  }
  return out;
}

std::string renderOAuthTokens(const std::map<std::string, OAuthTokens>& tokens) {
  json doc = json::object();
  for (const auto& [service, t] : tokens) {
    doc[service] = {{"access_token", t.access_token},   {"refresh_token", t.refresh_token},
                    {"expires_at_ms", t.expires_at_ms}, {"scope", t.scope},
                    {"state", stateName(t.state)},      {"error", t.error},
                    {"updated_at_ms", t.updated_at_ms}, {"token_port", t.token_port}};
    if (!t.client_id.empty()) doc[service]["client_id"] = t.client_id;
    if (!t.client_secret.empty()) doc[service]["client_secret"] = t.client_secret;
  }
  return doc.dump(2) + "\n";
}

StatusOr<std::map<std::string, OAuthTokens>> readOAuthTokens(std::string_view state_dir,
                                                             std::string_view sandbox) {
  const std::string path = oauthTokensPath(state_dir, sandbox);
  auto text = readFile(path, true);
  if (!text) return text.status();
  if (!text->has_value()) return std::map<std::string, OAuthTokens>();
  return parseOAuthTokens(**text, path);
}

Status writeOAuthTokens(std::string_view state_dir, std::string_view sandbox,
                        const std::map<std::string, OAuthTokens>& tokens) {
  const std::string path = oauthTokensPath(state_dir, sandbox);
  if (tokens.empty()) {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT)
      return Status::error(path + ": " + errnoText());
    return Status::ok();
  }
  return writePrivateAtomically(path, renderOAuthTokens(tokens));
}

Status updateOAuthTokens(std::string_view state_dir, std::string_view sandbox,
                         const std::function<bool(std::map<std::string, OAuthTokens>&)>& change) {
  const std::string dir = std::string(state_dir) + "/oauth";
  UniqueFd lock(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!lock.valid() && errno != ENOENT) return Status::error(dir + ": " + errnoText());
  // No directory yet: no file, nobody to race with (the write creates it).
  while (lock.valid() && ::flock(lock.get(), LOCK_EX) != 0) {
    if (errno != EINTR) return Status::error(dir + ": lock: " + errnoText());
  }
  auto tokens = readOAuthTokens(state_dir, sandbox);
  if (!tokens) return tokens.status();
  if (!change(*tokens)) return Status::ok();
  return writeOAuthTokens(state_dir, sandbox, *tokens);  // the lock goes with the fd
}

StatusOr<TokenExchange> exchangeTokenResponse(const OAuthRoute& route, std::string_view body,
                                              int64_t now_ms, const OAuthTokens* previous) {
  json doc = json::parse(body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object())
    return Status::error("the token response is not a JSON object");
  TokenExchange out;
  OAuthTokens& t = out.tokens;
  t.access_token = stringField(doc, route.access_field.c_str());
  if (t.access_token.empty())
    return Status::error("the token response has no " + route.access_field);
  t.refresh_token = stringField(doc, route.refresh_field.c_str());
  if (t.refresh_token.empty() && previous != nullptr) t.refresh_token = previous->refresh_token;
  if (auto e = doc.find(route.expires_in_field); e != doc.end()) {
    int64_t seconds = 0;
    if (e->is_number()) seconds = e->get<int64_t>();
    if (e->is_string()) seconds = std::atoll(e->get<std::string>().c_str());
    if (seconds > 0) t.expires_at_ms = now_ms + seconds * 1000;
  }
  if (auto s = doc.find(route.scope_field); s != doc.end()) {
    if (s->is_string()) t.scope = s->get<std::string>();
    if (s->is_array()) {
      for (const json& x : *s) {
        if (x.is_string()) t.scope += (t.scope.empty() ? "" : " ") + x.get<std::string>();
      }
    }
  }
  t.updated_at_ms = now_ms;
  if (previous != nullptr) {  // the caller replaces them when its request named them
    t.client_id = previous->client_id;
    t.client_secret = previous->client_secret;
  }
  doc[route.access_field] = route.access_sentinel;
  if (doc.contains(route.refresh_field)) doc[route.refresh_field] = route.refresh_sentinel;
  // An id_token or any other field echoing a token value is scrubbed by the
  // caller's response scrub (the tokens join the sandbox's scrub set).
  out.for_sandbox = doc.dump();
  return out;
}

std::vector<ScrubRule> refreshSubstitution(std::string_view sentinel, std::string_view real,
                                           bool form) {
  const std::string value = form ? percentEncode(real) : std::string(real);
  std::vector<ScrubRule> rules{{std::string(sentinel), value}};
  if (form && percentEncode(sentinel) != sentinel)
    rules.push_back({percentEncode(sentinel), value});
  return rules;
}

Status readOAuthRouteFiles(const std::string& state_dir, StoreModel* model) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(state_dir) / "oauth";
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return Status::ok();
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    constexpr std::string_view kExt = ".json";
    constexpr std::string_view kTokens = ".tokens.json";
    if (name.empty() || name[0] == '.' || name.size() <= kExt.size() ||
        name.compare(name.size() - kExt.size(), kExt.size(), kExt) != 0)
      continue;
    if (name.size() > kTokens.size() &&
        name.compare(name.size() - kTokens.size(), kTokens.size(), kTokens) == 0)
      continue;
    names.push_back(name.substr(0, name.size() - kExt.size()));
  }
  if (ec) return Status::error(dir.string() + ": " + ec.message());
  std::sort(names.begin(), names.end());
  std::vector<std::string> errors;
  for (const std::string& sandbox : names) {
    const std::string path = oauthRoutesPath(state_dir, sandbox);
    if (!validSandboxName(sandbox)) {
      errors.push_back(path + ": error: not a sandbox name");
      continue;
    }
    auto text = readFile(path, false);
    if (!text) {
      errors.push_back(text.status().message());
      continue;
    }
    if (!text->has_value()) continue;  // removed meanwhile
    auto routes = parseOAuthRoutes(**text, path);
    if (!routes) {
      errors.push_back(routes.status().message());
      continue;
    }
    model->oauth.push_back(SandboxOAuth{sandbox, std::move(routes.value())});
  }
  if (errors.empty()) return Status::ok();
  std::string all;
  for (const auto& e : errors) all += (all.empty() ? "" : "\n") + e;
  return Status::error(all);
}

// ---------------------------------------------------------------- the vault

Status OAuthSlot::store(OAuthTokens tokens) {
  auto stored = vault_.storeLocked(*this, std::move(tokens), nullptr);
  return stored ? Status::ok() : stored.status();
}

StatusOr<bool> OAuthSlot::storeIfCurrent(const OAuthTokens& expected, OAuthTokens next) {
  return vault_.storeLocked(*this, std::move(next), &expected);
}

void OAuthSlot::publish(std::shared_ptr<const OAuthTokens> tokens) {
  tokens_.store(std::move(tokens));
  generation_.fetch_add(1, std::memory_order_acq_rel);
}

void OAuthSlot::requestRefresh(uint64_t generation) {
  uint64_t want = generation + 1;
  uint64_t cur = wanted_.load(std::memory_order_acquire);
  while (cur < want && !wanted_.compare_exchange_weak(cur, want, std::memory_order_acq_rel)) {
  }
  if (cur < want) vault_.wake();
}

void OAuthVault::wake() const {
  const int fd = wake_fd_.load(std::memory_order_acquire);
  if (fd < 0) return;
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(fd, &one, sizeof one);  // EAGAIN: already awake
}

std::vector<std::shared_ptr<OAuthSlot>> OAuthVault::slots() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::shared_ptr<OAuthSlot>> out;
  out.reserve(slots_.size());
  for (const auto& [key, s] : slots_) out.push_back(s);
  return out;
}

// The tokens file is read, changed in one service and written back: another
// service removed by `kitgate secret rm` stays removed.
StatusOr<bool> OAuthVault::storeLocked(OAuthSlot& slot, OAuthTokens tokens,
                                       const OAuthTokens* expected) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    bool stored = false;
    std::optional<OAuthTokens> on_file;
    Status st =
        updateOAuthTokens(state_dir_, slot.sandbox_, [&](std::map<std::string, OAuthTokens>& file) {
          auto it = file.find(slot.service_);
          if (expected != nullptr &&
              (it == file.end() || it->second.refresh_token != expected->refresh_token)) {
            if (it != file.end()) on_file = it->second;
            return false;  // revoked, or replaced by someone else: the file wins
          }
          file[slot.service_] = tokens;
          stored = true;
          return true;
        });
    if (!st) return st;
    if (!stored) {
      slot.publish(on_file ? std::make_shared<const OAuthTokens>(std::move(*on_file)) : nullptr);
      return false;
    }
    slot.publish(std::make_shared<const OAuthTokens>(std::move(tokens)));
    changed_.store(true);
  }
  wake();
  return true;
}

std::shared_ptr<OAuthSlot> OAuthVault::slot(const std::string& sandbox,
                                            const std::string& service) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& s = slots_[{sandbox, service}];
  if (!s) {
    s = std::make_shared<OAuthSlot>(*this, sandbox, service);
    auto file = readOAuthTokens(state_dir_, sandbox);
    if (file) {
      if (auto it = file->find(service); it != file->end())
        s->tokens_.store(std::make_shared<const OAuthTokens>(it->second));
    }
  }
  return s;
}

Status OAuthVault::syncFromFiles() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> errors;
  std::string last_sandbox;
  StatusOr<std::map<std::string, OAuthTokens>> file = std::map<std::string, OAuthTokens>();
  for (auto& [key, s] : slots_) {  // ordered by sandbox: one read per file
    if (key.first != last_sandbox) {
      last_sandbox = key.first;
      file = readOAuthTokens(state_dir_, key.first);
      if (!file) errors.push_back(file.status().message());
    }
    if (!file) continue;
    auto it = file->find(key.second);
    auto cur = s->current();
    if (it == file->end()) {
      if (cur) s->publish(nullptr);
    } else if (!cur || !(*cur == it->second)) {
      s->publish(std::make_shared<const OAuthTokens>(it->second));
    }
  }
  if (errors.empty()) return Status::ok();
  std::string all;
  for (const auto& e : errors) all += (all.empty() ? "" : "\n") + e;
  return Status::error(all);
}

}  // namespace kitgate::secrets
