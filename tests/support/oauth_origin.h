// A stand-in for an OAuth provider on loopback, over HTTPS (test CA): a
// token endpoint and a resource server, for the proxy-managed OAuth tests.
//
//   POST <token path>   form or JSON body:
//     grant_type=authorization_code  issues a fresh access + refresh token
//     grant_type=refresh_token       the current refresh token rotates both
//                                    (after setRefreshDelay(), and as
//                                    setRefreshAnswer() says: 400
//                                    invalid_grant, 500, the connection
//                                    dropped, a body that is not JSON);
//                                    any other refresh token: 400;
//                                    requireClientId(): without that
//                                    client_id, 400 invalid_client
//     the answer: {"access_token", "refresh_token", "expires_in", "scope",
//                  "token_type"}
//   GET  /v1/me         resource: 200 when `Authorization: Bearer <current
//                       access token>` that has not expired (expires_in) or
//                       been revoked (revokeAccess()), with the header echoed
//                       in the body and in X-Echo-Authorization (an echoing
//                       upstream); else 401
//
// Real tokens start with "REAL-" (tests scan for that prefix). Threads: an
// accept thread and one per connection; counters from any thread.
#pragma once

#include <atomic>
#include <chrono>
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
  enum class RefreshAnswer { kOk, kBadRequest, kServerError, kDrop, kNotJson };
  void setRefreshAnswer(RefreshAnswer a) { refresh_answer_ = a; }
  void setRefreshFails(bool fail) {
    refresh_answer_ = fail ? RefreshAnswer::kBadRequest : RefreshAnswer::kOk;
  }
  // Refresh answers wait this long (a refresh "in flight").
  void setRefreshDelay(std::chrono::milliseconds d) { refresh_delay_ms_ = d.count(); }
  void setExpiresIn(int s) { expires_in_ = s; }
  // A refresh must name this client_id (form or JSON), else 400
  // invalid_client — as real providers do; empty: any.
  void requireClientId(std::string id) {
    std::lock_guard<std::mutex> lock(mu_);
    required_client_id_ = std::move(id);
  }
  // The current access token is refused from now on (401); a refresh works.
  void revokeAccess() { access_revoked_ = true; }
  // Refresh requests received (answered or not, whatever their outcome).
  int refreshAttempts() const { return refresh_attempts_.load(); }
  // When (unix ms) the last refresh request arrived; 0: none.
  int64_t lastRefreshAtMs() const { return last_refresh_at_ms_.load(); }
  std::string currentAccess() const;
  std::string currentRefresh() const;
  // Every real token issued so far.
  std::vector<std::string> issued() const;
  // The bodies of token requests as received (what the proxy sent upstream).
  std::vector<std::string> tokenRequestBodies() const;
  // How each token request was framed on the wire, in arrival order (the
  // header values as received, "" when absent; body_bytes: the payload read).
  struct Framing {
    std::string content_length;
    std::string transfer_encoding;
    std::string expect;
    size_t body_bytes = 0;
  };
  std::vector<Framing> tokenRequestFramings() const;

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
  std::vector<Framing> token_framings_;
  std::string required_client_id_;
  int serial_ = 0;
  std::atomic<int> logins_{0}, refreshes_{0}, authorized_{0}, unauthorized_{0};
  std::atomic<RefreshAnswer> refresh_answer_{RefreshAnswer::kOk};
  std::atomic<int64_t> refresh_delay_ms_{0};
  std::atomic<int> refresh_attempts_{0};
  std::atomic<int64_t> last_refresh_at_ms_{0};
  std::atomic<bool> access_revoked_{false};
  std::chrono::steady_clock::time_point access_expires_{};
  std::atomic<int> expires_in_{3600};
};

}  // namespace kitgate::testing
