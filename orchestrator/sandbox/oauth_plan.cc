#include "orchestrator/sandbox/oauth_plan.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "orchestrator/sandbox/plan.h"
#include "orchestrator/state/state.h"
#include "proxy/secrets/store_model.h"

namespace kitgate::sandbox {

using nlohmann::json;

namespace {

std::string fieldOr(const std::map<std::string, std::string>& fields, const std::string& key,
                    std::string fallback) {
  auto it = fields.find(key);
  return it == fields.end() || it->second.empty() ? fallback : it->second;
}

// The template data the agent's credential file is rendered with: the
// sentinels, never real tokens (kit-spec §1.3 standalone oauth).
struct FileData {
  std::string access;
  std::string refresh;
  int64_t expires_at_ms = 0;
};

std::string replaceAll(std::string s, std::string_view from, std::string_view to) {
  for (size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size()))
    s.replace(pos, from.size(), to);
  return s;
}

std::string renderText(std::string text, const FileData& d) {
  text = replaceAll(std::move(text), "{{.AccessToken}}", d.access);
  text = replaceAll(std::move(text), "{{.RefreshToken}}", d.refresh);
  text = replaceAll(std::move(text), "{{.ExpiresAt}}", std::to_string(d.expires_at_ms));
  text = replaceAll(std::move(text), "{{.ScopesJSON}}", "[]");
  text = replaceAll(std::move(text), "{{.Scopes}}", "");
  return text;
}

// `structure` as JSON: a scalar that is exactly {{.ExpiresAt}} is a number,
// {{.ScopesJSON}} an array; other scalars are strings with the fields put in.
json renderStructure(const kit::Value& v, const FileData& d) {
  switch (v.kind) {
    case kit::Value::Kind::kNull:
      return nullptr;
    case kit::Value::Kind::kScalar:
      if (v.scalar == "{{.ExpiresAt}}") return d.expires_at_ms;
      if (v.scalar == "{{.ScopesJSON}}") return json::array();
      return renderText(v.scalar, d);
    case kit::Value::Kind::kSequence: {
      json a = json::array();
      for (const kit::Value& item : v.items) a.push_back(renderStructure(item, d));
      return a;
    }
    case kit::Value::Kind::kMap: {
      json o = json::object();
      for (size_t i = 0; i < v.keys.size(); ++i) o[v.keys[i]] = renderStructure(v.items[i], d);
      return o;
    }
  }
  return nullptr;
}

}  // namespace

std::vector<secrets::OAuthRoute> planOAuth(const kit::Kit& kit) {
  std::vector<secrets::OAuthRoute> out;
  for (const kit::Credential& c : kit.credentials) {
    if (!c.oauth) continue;
    const kit::OAuth& o = *c.oauth;
    secrets::OAuthRoute r;
    r.service = c.service;
    r.token_host = o.token_host;
    r.token_path = o.token_path;
    r.resource_hosts = o.resource_hosts;
    r.access_sentinel = o.access_sentinel;
    r.refresh_sentinel = o.refresh_sentinel;
    r.access_field = fieldOr(o.response_fields, "accessToken", r.access_field);
    r.refresh_field = fieldOr(o.response_fields, "refreshToken", r.refresh_field);
    r.expires_in_field = fieldOr(o.response_fields, "expiresIn", r.expires_in_field);
    r.scope_field = fieldOr(o.response_fields, "scope", r.scope_field);
    r.passthrough = o.passthrough;
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<std::string> oauthWarnings(const kit::Kit& kit) {
  std::vector<std::string> out;
  for (const kit::Credential& c : kit.credentials) {
    if (c.oauth && c.oauth->passthrough) {
      out.push_back("credential " + c.service +
                    ": oauth passthrough is on: the real OAuth tokens from " + c.oauth->token_host +
                    " enter the sandbox");
    }
  }
  return out;
}

StatusOr<std::vector<CredentialFile>> credentialFiles(const kit::Kit& kit, int64_t expires_at_ms) {
  std::vector<CredentialFile> out;
  for (const kit::Credential& c : kit.credentials) {
    if (!c.oauth || c.oauth->credential_file_path.empty()) continue;
    const kit::OAuth& o = *c.oauth;
    if (o.passthrough) continue;  // the agent logs in for real and writes its own file
    FileData d{o.access_sentinel, o.refresh_sentinel, expires_at_ms};
    CredentialFile f;
    f.service = c.service;
    f.path = o.credential_file_path;
    if (f.path.rfind("~/", 0) == 0) f.path = std::string(kAgentHome) + f.path.substr(1);
    if (f.path.empty() || f.path[0] != '/') {
      return Status::error("credential " + c.service + ": credentialFile.path " +
                           o.credential_file_path + " is not absolute (or ~/…)");
    }
    if (o.credential_file_structure) {
      f.content = renderStructure(*o.credential_file_structure, d).dump(2) + "\n";
    } else {
      f.content = renderText(o.credential_file_template, d);
    }
    out.push_back(std::move(f));
  }
  return out;
}

Status writeOAuthRoutes(const std::string& state_dir, const std::string& sandbox,
                        const std::vector<secrets::OAuthRoute>& routes) {
  if (routes.empty()) return removeOAuthState(state_dir, sandbox);
  const std::string dir = state_dir + "/oauth";
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return Status::error("cannot create " + dir + ": " + std::strerror(errno));
  return state::writeFileAtomic(secrets::oauthRoutesPath(state_dir, sandbox),
                                secrets::renderOAuthRoutes(routes), 0600);
}

Status removeOAuthState(const std::string& state_dir, const std::string& sandbox) {
  const std::string routes = secrets::oauthRoutesPath(state_dir, sandbox);
  if (::unlink(routes.c_str()) != 0 && errno != ENOENT)
    return Status::error("cannot remove " + routes + ": " + std::strerror(errno));
  // Under the proxy's lock (a refresh in flight cannot write it back); a
  // file it cannot read (group-readable …) is removed all the same.
  Status st = secrets::updateOAuthTokens(state_dir, sandbox,
                                         [](std::map<std::string, secrets::OAuthTokens>& tokens) {
                                           const bool any = !tokens.empty();
                                           tokens.clear();
                                           return any;
                                         });
  return st ? st : secrets::writeOAuthTokens(state_dir, sandbox, {});
}

StatusOr<std::vector<OAuthStatus>> oauthStatus(const std::string& state_dir) {
  secrets::StoreModel model;
  if (Status st = secrets::readOAuthRouteFiles(state_dir, &model); !st) return st;
  std::vector<OAuthStatus> out;
  for (const secrets::SandboxOAuth& s : model.oauth) {
    auto tokens = secrets::readOAuthTokens(state_dir, s.sandbox);
    if (!tokens) return tokens.status();
    for (const secrets::OAuthRoute& r : s.routes) {
      OAuthStatus st{s.sandbox, r.service, r.token_host, false, "not logged in", 0};
      if (auto it = tokens->find(r.service); it != tokens->end()) {
        st.logged_in = !it->second.access_token.empty();
        st.state = std::string(secrets::stateName(it->second.state)) +
                   (it->second.error.empty() ? "" : ": " + it->second.error);
        st.expires_at_ms = it->second.expires_at_ms;
      }
      out.push_back(std::move(st));
    }
  }
  return out;
}

Status removeOAuthTokens(const std::string& state_dir, const std::string& sandbox,
                         const std::string& service, bool* removed) {
  *removed = false;
  // Under the lock the proxy's refreshes take: one in flight cannot write
  // the credential back.
  return secrets::updateOAuthTokens(state_dir, sandbox,
                                    [&](std::map<std::string, secrets::OAuthTokens>& tokens) {
                                      *removed = tokens.erase(service) > 0;
                                      return *removed;
                                    });
}

}  // namespace kitgate::sandbox
