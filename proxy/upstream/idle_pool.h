// IdlePool: a worker's idle upstream HTTP/1.1 connections, kept after a
// complete exchange so the next client connection of the same sandbox to the
// same host skips TCP and the TLS handshake.
//
//   Connection (exchange complete, both directions empty) --put(key)-->
//     pooled: one EV_READ event with the idle timeout as its timeout; any
//     readiness (EOF, bytes the server should not send) or the timeout
//     closes and removes it
//   Connection (a new request for the same key) --take(key, allowed)-->
//     the newest entry that still shows no EOF/bytes and whose address the
//     caller's policy still allows
//
// The key is the caller's: it names the sandbox, host, port and TLS or not
// (proxy/server/connection.cc builds it); the pool never mixes keys. The
// server clears the pool when a reload publishes a snapshot, so a pooled
// connection never outlives the policy, sandbox or credentials it was made
// under. Bounded per key and per worker: a put beyond either closes the
// connection instead. idle_timeout 0 disables the pool.
//
// Thread: the owning worker's loop only (no locks); client connections on
// another worker never see these connections.
#pragma once

#include <event2/event.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "proxy/admin/metrics.h"
#include "proxy/common/unique_fd.h"
#include "proxy/tunnel/transport.h"

namespace kitgate::upstream {

struct IdleConnection {
  UniqueFd fd;
  std::unique_ptr<tunnel::Transport> io;  // plain, or the finished TLS leg; does not own fd
  std::string address;                    // the address it is connected to (policy re-check)
};

class IdlePool {
 public:
  static constexpr size_t kMaxPerKey = 8;
  static constexpr size_t kMaxTotal = 256;

  IdlePool(event_base* base, admin::WorkerMetrics& metrics) : base_(base), metrics_(metrics) {}
  ~IdlePool();
  IdlePool(const IdlePool&) = delete;
  IdlePool& operator=(const IdlePool&) = delete;

  // 0 disables (and empties) the pool.
  void setIdleTimeout(std::chrono::milliseconds t);
  bool enabled() const { return idle_timeout_.count() > 0; }
  // Keeps `c` for `key`; false when it was closed instead (disabled, full).
  bool put(std::string_view key, IdleConnection c);
  // The newest live entry for `key` whose address `allowed` accepts; entries
  // found dead or refused are closed. Counts hit/miss/stale.
  std::optional<IdleConnection> take(std::string_view key,
                                     const std::function<bool(const std::string&)>& allowed);
  // Closes every pooled connection (a reload).
  void clear();
  size_t size() const { return total_; }

 private:
  struct Entry {
    IdlePool* pool;
    std::string key;
    IdleConnection conn;
    event* ev = nullptr;
    ~Entry();
  };
  static void onIdleEvent(evutil_socket_t, short, void* arg);
  void remove(Entry* e);  // closes it

  event_base* base_;
  admin::WorkerMetrics& metrics_;
  std::chrono::milliseconds idle_timeout_{0};
  std::unordered_map<std::string, std::vector<std::unique_ptr<Entry>>> entries_;
  size_t total_ = 0;
};

// True when the socket shows neither EOF nor unread bytes (and the transport
// holds none): an idle HTTP/1.1 connection whose server has said nothing.
bool quietIdle(const IdleConnection& c);

}  // namespace kitgate::upstream
