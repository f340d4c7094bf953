// A stand-in for an OAuth provider on loopback, over HTTPS (test CA): a
// token endpoint and a resource server, for the proxy-managed OAuth tests.
//
//   POST <token path>   form or JSON body:
//     grant_type=authorization_code  issues a fresh access + refresh token
//     grant_type=refresh_token       the current refresh token rotates both
//                                    (refresh_fails(): 400 invalid_grant);
//                                    any other refresh token: 400
//     the answer: {"access_token", "refresh_token", "expires_in", "scope",
//                  "token_type"}
//   GET  /v1/me         resource: 200 when `Authorization: Bearer <current
//                       access token>`, with the header echoed in the body
//                       and in X-Echo-Authorization (an echoing upstream);
//                       else 401
//
// Real tokens start with "REAL-" (tests scan for that prefix). Threads: an
// accept thread and one per connection; counters from any thread.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "proxy/common/status.h"
#include "proxy/common/unique_fd.h"
#include "proxy/tls/ca.h"
#include "proxy/tls/contexts.h"
#include "proxy/tls/leaf_cache.h"

namespace kitgate::testing {

class OAuthOrigin {
 public:
  struct Options {
    const tls::CertificateAuthority* ca = nullptr;
    std::vector<std::string> hosts;
    std::string token_path = "/v1/oauth/token";
    int expires_in = 3600;
  };
  static StatusOr<std::unique_ptr<OAuthOrigin>> start(const Options& options);
  ~OAuthOrigin();

  uint16_t port() const { return port_; }
  // Token requests answered, by grant type.
  int logins() const { return logins_.load(); }
  int refreshes() const { return refreshes_.load(); }
  // Resource requests that carried the current access token / did not.
  int authorized() const { return authorized_.load(); }
  int unauthorized() const { return unauthorized_.load(); }
  void setRefreshFails(bool fail) { refresh_fails_ = fail; }
  void setExpiresIn(int s) { expires_in_ = s; }
  std::string currentAccess() const;
  std::string currentRefresh() const;
  // Every real token issued so far.
  std::vector<std::string> issued() const;
  // The bodies of token requests as received (what the proxy sent upstream).
  std::vector<std::string> tokenRequestBodies() const;

 private:
  OAuthOrigin() = default;
  void acceptLoop();
  void serve(UniqueFd fd);
  // status, content type, body
  std::tuple<int, std::string, std::string, std::string> handle(const std::string& method,
                                                                const std::string& target,
                                                                const std::string& auth,
                                                                const std::string& type,
                                                                const std::string& body);

  Options opts_;
  std::unique_ptr<tls::ServerContext> ctx_;
  std::vector<std::shared_ptr<const tls::Leaf>> leaves_;
  UniqueFd listen_;
  uint16_t port_ = 0;
  std::thread acceptor_;
  std::atomic<bool> stopping_{false};
  mutable std::mutex mu_;
  std::vector<std::thread> conns_;
  std::vector<int> conn_fds_;
  std::string access_, refresh_;
  std::vector<std::string> issued_;
  std::vector<std::string> token_bodies_;
  int serial_ = 0;
  std::atomic<int> logins_{0}, refreshes_{0}, authorized_{0}, unauthorized_{0};
  std::atomic<bool> refresh_fails_{false};
  std::atomic<int> expires_in_{3600};
};

}  // namespace kitgate::testing
