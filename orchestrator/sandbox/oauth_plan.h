// Proxy-managed OAuth on the CLI side (kit-spec §1.5.7.2, §5.12): what a
// kit's `oauth` blocks become for one sandbox.
//
//   planOAuth         the routes the proxy watches (written to
//                     <state>/oauth/<sandbox>.json, proxy/secrets/FORMAT.md)
//   oauthWarnings     what `run` says about them (passthrough lets the real
//                     tokens into the sandbox)
//   credentialFiles   the kit's credentialFile, rendered from `structure`
//                     (or the deprecated `template`) with the sentinels, so
//                     the agent believes it is logged in; the real tokens
//                     never go into it
//   writeOAuthRoutes / removeOAuthState
//                     the state files (0600, atomic)
//
// Pure functions except the two file writers (main thread).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kitloader/kit.h"
#include "proxy/common/status.h"
#include "proxy/secrets/oauth.h"

namespace kitgate::sandbox {

std::vector<secrets::OAuthRoute> planOAuth(const kit::Kit& kit);
std::vector<std::string> oauthWarnings(const kit::Kit& kit);

struct CredentialFile {
  std::string service;
  std::string path;  // absolute, `~` expanded to the agent's home
  std::string content;
};
// `expires_at_ms`: the ExpiresAt the file states (the sentinel token's
// lifetime as the agent sees it).
StatusOr<std::vector<CredentialFile>> credentialFiles(const kit::Kit& kit, int64_t expires_at_ms);

Status writeOAuthRoutes(const std::string& state_dir, const std::string& sandbox,
                        const std::vector<secrets::OAuthRoute>& routes);
// Removes <state>/oauth/<sandbox>.json and its tokens file; idempotent.
Status removeOAuthState(const std::string& state_dir, const std::string& sandbox);

// What `kitgate secret ls` shows of one sandbox's OAuth credential: whether
// the proxy holds tokens, their state and expiry — never a value.
struct OAuthStatus {
  std::string sandbox;
  std::string service;
  std::string token_host;
  bool logged_in = false;
  std::string state;          // "ok", "refresh-failed: <why>", "not logged in"
  int64_t expires_at_ms = 0;  // 0 = unknown
};
StatusOr<std::vector<OAuthStatus>> oauthStatus(const std::string& state_dir);
// Forgets the stored tokens of (sandbox, service) (`kitgate secret rm`);
// *removed says whether there were any.
Status removeOAuthTokens(const std::string& state_dir, const std::string& sandbox,
                         const std::string& service, bool* removed);

}  // namespace kitgate::sandbox
