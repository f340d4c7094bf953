// SpliceRelay: the opaque bidirectional byte relay of an established tunnel.
//
//   client fd --splice--> pipe (borrowed from the worker's PipePool) --splice--> upstream fd
//   upstream fd --splice--> pipe --splice--> client fd
//
// Bytes never enter user space except the small "pending" prefixes handed in
// at start (the "200 Connection established" line for the client, and any
// bytes the client pipelined behind its CONNECT head for the upstream).
// Back-pressure is the pipe itself: while a direction's pipe cannot be drained
// into its destination, the relay stops reading its source. Half-close: an EOF
// from one side becomes shutdown(SHUT_WR) on the other; the relay ends when
// both directions have ended, on any socket error, or after `idle_timeout`
// without a byte in either direction. While bytes wait for an upstream
// that takes nothing, the client is checked every kFlushAfterClientClose
// (poll: reset, or its FIN when one could arrive): once it is gone, the
// tunnel ends instead of holding its descriptors until the idle timeout.
//
// Thread: lives on one worker's event_base; every call on that thread.
// Ownership: owns both fds. `on_done` is called exactly once, from an event
// callback, as the relay's last action; the owner may schedule the relay's
// deletion from it but must not delete it synchronously there (deferred delete).
#pragma once

#include <event2/event.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "proxy/common/counter.h"
#include "proxy/common/unique_fd.h"
#include "proxy/tunnel/pipe_pool.h"

namespace kitgate::tunnel {

struct RelayStats {
  // Every byte written to each side, the pending prefixes included.
  uint64_t bytes_up = 0;              // client -> upstream
  uint64_t bytes_down = 0;            // upstream -> client
  const char* end_reason = "closed";  // static string: "closed", "idle timeout", "reset", …
};

class SpliceRelay {
 public:
  static constexpr std::chrono::seconds kFlushAfterClientClose{5};
  using DoneCallback = std::function<void(const RelayStats&)>;

  SpliceRelay(event_base* base, PipePool& pipes, UniqueFd client, UniqueFd upstream,
              std::string pending_to_client, std::string pending_to_upstream,
              std::chrono::milliseconds idle_timeout, DoneCallback on_done);
  ~SpliceRelay();
  SpliceRelay(const SpliceRelay&) = delete;
  SpliceRelay& operator=(const SpliceRelay&) = delete;

  // Arms the events; the relay runs from here on.
  // Before start(): count payload bytes into `up` / `down` as they flow
  // (the client's early bytes included, our own reply prefix not).
  void countLive(Counter* up, Counter* down) {
    up_.live = up;
    up_.live_pending = true;
    down_.live = down;
  }
  void start();
  // Ends the relay now (shutdown drain deadline); on_done is NOT called.
  void abort();

  const RelayStats& stats() const { return stats_; }

 private:
  struct Direction {
    SpliceRelay* relay = nullptr;
    int from = -1;
    int to = -1;
    event* read_ev = nullptr;   // readiness of `from`
    event* write_ev = nullptr;  // readiness of `to`
    Pipe pipe;                  // borrowed while in_pipe > 0
    size_t in_pipe = 0;
    std::string pending;  // user-space prefix written before any splice
    size_t pending_off = 0;
    bool eof = false;             // `from` reached EOF
    bool done = false;            // EOF forwarded as shutdown(to, SHUT_WR)
    bool source_drained = false;  // the last splice from `from` was short: wait for readiness
    uint64_t* counter = nullptr;
    Counter* live = nullptr;    // payload bytes as they flow (metrics), or null
    bool live_pending = false;  // the pending prefix is payload too (not our own reply)
  };
  enum class Step { kWaitRead, kWaitWrite, kYield, kDone, kError };

  static void onEvent(evutil_socket_t fd, short what, void* arg);
  static void onIdle(evutil_socket_t fd, short what, void* arg);
  static void onFlushCheck(evutil_socket_t fd, short what, void* arg);
  void pump(Direction& d);
  Step move(Direction& d);
  void finish(const char* reason);
  void armIdle();
  void armFlushCheck();

  event_base* base_;
  PipePool& pipes_;
  UniqueFd client_;
  UniqueFd upstream_;
  Direction up_;    // client -> upstream
  Direction down_;  // upstream -> client
  event* idle_ev_ = nullptr;
  event* flush_ev_ = nullptr;      // up direction stalled: upstream progress / client still there?
  uint64_t flushed_at_check_ = 0;  // bytes_up at the last check
  std::chrono::milliseconds idle_timeout_;
  timeval last_activity_{};
  DoneCallback on_done_;
  RelayStats stats_;
  bool finished_ = false;
};

}  // namespace kitgate::tunnel
