// Credential sources: where the value an injection writes comes from.
//
// A HeaderInjection holds a CredentialSource plus a CredentialFormat, not
// the value:
//  - StaticCredential: a value from secrets.yaml, fixed for the life of the
//    snapshot (the trivial source). Its rendered header value is computed
//    once when the plan is built.
//  - RefreshableCredential: a value with a lifetime (an OAuth access token,
//    the output of a `--command` secret) fetched by a Fetch function. It is
//    refreshed OFF the data path by a CredentialRefresher thread and
//    published to every worker the way snapshots are: an immutable value
//    behind a shared_ptr swapped in whole, which the data path only loads
//    (Envoy's injected_credentials token provider: refreshed on the main
//    thread, read synchronously by the injector).
//
// Threads: current() from any thread, never blocks on I/O. refreshIfDue()
// from one refresher thread at a time. Values never appear in a Status, a
// log line or toString().
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "proxy/common/clock.h"
#include "proxy/common/status.h"

namespace kitgate::secrets {

// How a secret becomes a header value: `format` with %s = the secret and
// %% = '%' (validated by the loader); with a `username`, the header is
// `Basic base64(username ":" formatted)`.
struct CredentialFormat {
  std::string format;
  std::string username;

  // `format` applied to `secret`.
  std::string formatted(std::string_view secret) const;
  // The header value.
  std::string render(std::string_view secret) const;
};

class CredentialSource {
 public:
  virtual ~CredentialSource() = default;
  // The current secret, or nullptr when none is available (never fetched,
  // or expired). The returned value stays valid while it is held.
  virtual std::shared_ptr<const std::string> current() const = 0;
  // False for StaticCredential: its value never changes, so an injection
  // renders it once.
  virtual bool refreshable() const = 0;
  // What this source is, for messages: "secret amp", "command for amp" (no value).
  virtual std::string_view describe() const = 0;
};

class StaticCredential final : public CredentialSource {
 public:
  StaticCredential(std::string description, std::string value);
  std::shared_ptr<const std::string> current() const override { return value_; }
  bool refreshable() const override { return false; }
  std::string_view describe() const override { return description_; }

 private:
  std::string description_;
  std::shared_ptr<const std::string> value_;
};

class RefreshableCredential final : public CredentialSource {
 public:
  struct Token {
    std::string value;
    Clock::duration lifetime;  // from the moment it was fetched
  };
  // Fetches a fresh token (runs on the refresher thread; may block). An
  // error message must not contain the value.
  using Fetch = std::function<StatusOr<Token>()>;

  // `refresh_before`: how long before expiry a refresh is due.
  RefreshableCredential(std::string description, Fetch fetch, const Clock& clock,
                        Clock::duration refresh_before);

  // The published token, or nullptr when there is none or it has expired.
  std::shared_ptr<const std::string> current() const override;
  bool refreshable() const override { return true; }
  std::string_view describe() const override { return description_; }

  // Refresher thread only. Fetches when due (no token yet, or within
  // refresh_before of expiry) and publishes the result. A failed fetch keeps
  // the last good token until it expires and returns the error, prefixed
  // with describe(). OK when nothing was due.
  Status refreshIfDue();
  // When refreshIfDue() will next fetch (now when no token is published).
  Clock::time_point nextRefresh() const;

 private:
  struct Published {
    std::shared_ptr<const std::string> value;
    Clock::time_point expires;
  };

  std::string description_;
  Fetch fetch_;
  const Clock& clock_;
  Clock::duration refresh_before_;
  std::atomic<std::shared_ptr<const Published>> published_;
};

// Runs refreshIfDue() for a set of sources on its own thread, waking at the
// earliest nextRefresh() (at least every `max_wait`, and at most once per
// `min_wait` after a failure). Failures go to `on_error` (no values in them).
class CredentialRefresher {
 public:
  CredentialRefresher(std::vector<std::shared_ptr<RefreshableCredential>> sources,
                      const Clock& clock, std::function<void(const Status&)> on_error);
  ~CredentialRefresher();  // stops the thread
  CredentialRefresher(const CredentialRefresher&) = delete;
  CredentialRefresher& operator=(const CredentialRefresher&) = delete;

  // One pass over every source: what the thread does each time it wakes.
  // Returns how many refreshes failed. Usable without start() (tests).
  int runOnce();
  void start();
  void stop();

 private:
  std::vector<std::shared_ptr<RefreshableCredential>> sources_;
  const Clock& clock_;
  std::function<void(const Status&)> on_error_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace kitgate::secrets
