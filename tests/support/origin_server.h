// OriginServer: a real HTTP/1.1 origin (or raw TCP echo server) on loopback
// for integration tests, served by its own threads.
//
// HTTP routes (keep-alive unless the request says otherwise):
//   GET|HEAD /small          101 bytes (kSmallBody), Content-Length
//   GET|HEAD /bytes/N        N bytes of patternBytes(0, N), Content-Length
//   GET|HEAD /chunked/N      the same N bytes, Transfer-Encoding: chunked
//   GET /status/N            status N (204 and 304 without a body)
//   POST /echo-length        reads the body (Content-Length or chunked) and
//                            answers "length=L checksum=C\n" (fnv1a64, hex)
//   GET /headers             the request head exactly as received, as body
//   GET /close               200 without Content-Length, then closes
//   anything else            404
// A request with "X-Drop-Next: 1" is answered as usual; the next request on
// its connection is read and never answered (the connection closes) — a
// server that timed out the idle connection just as the request came.
// "Expect: 100-continue" is answered with "100 Continue" before the body is
// read. Mode::kEcho instead writes every byte back until the client
// half-closes, then half-closes too.
//
// Threads: one accept thread plus one thread per connection, blocking I/O.
// Counters may be read from any thread. stop() (and the destructor) shuts
// every connection down and joins all threads.
//
// HTTPS hook: Options::wrap turns an accepted socket into a Stream; the
// default is plain TCP. A TLS origin supplies a Stream that handshakes and
// then reads/writes through TLS (TLS interception is a separate issue).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "proxy/common/status.h"
#include "proxy/common/unique_fd.h"

namespace kitgate::testing {

inline constexpr size_t kSmallBodySize = 101;

// Byte i of every generated body: deterministic, not periodic at any small
// power of two, so a lost or duplicated block shows up in a comparison.
char patternByte(uint64_t i);
std::string patternBytes(uint64_t offset, size_t n);
// 64-bit FNV-1a, continued from `h`.
uint64_t fnv1a64(std::string_view data, uint64_t h = 0xcbf29ce484222325ULL);
std::string hex64(uint64_t v);

// A connection as the origin sees it: plain TCP or, through the hook, TLS.
class Stream {
 public:
  virtual ~Stream() = default;
  // Blocking. >0 bytes read, 0 at EOF, <0 on error.
  virtual long read(char* buf, size_t n) = 0;
  virtual bool writeAll(std::string_view data) = 0;
  virtual void shutdownWrite() = 0;
};

class OriginServer {
 public:
  enum class Mode { kHttp, kEcho };
  struct Options {
    Mode mode = Mode::kHttp;
    std::string bind_address = "127.0.0.1";
    // Accepted socket -> Stream (null = plain TCP). Runs on the connection's
    // thread; returning null drops the connection.
    std::function<std::unique_ptr<Stream>(UniqueFd)> wrap;
    // Written first on every connection (a server-first protocol: an
    // SSH-like banner), before the mode's behaviour.
    std::string banner;
  };

  static StatusOr<std::unique_ptr<OriginServer>> start(Options options);
  static StatusOr<std::unique_ptr<OriginServer>> start() { return start(Options{}); }
  ~OriginServer();
  OriginServer(const OriginServer&) = delete;
  OriginServer& operator=(const OriginServer&) = delete;

  uint16_t port() const { return port_; }
  // "127.0.0.1:PORT"
  std::string authority() const;
  size_t connectionsAccepted() const { return accepted_.load(); }
  size_t connectionsOpen() const { return open_.load(); }
  size_t requestsServed() const { return requests_.load(); }
  // The head of the most recent request (any connection).
  std::string lastRequestHead() const;
  // Closes every open connection (the server side of an idle keep-alive
  // timing out); keeps accepting new ones.
  void closeConnections();
  void stop();

 private:
  OriginServer() = default;
  void acceptLoop();
  void serve(UniqueFd fd);
  void serveHttp(Stream& s);
  void serveEcho(Stream& s);

  Options options_;
  UniqueFd listen_fd_;
  UniqueFd wake_fd_;  // eventfd: stop() wakes the accept loop
  uint16_t port_ = 0;
  std::thread acceptor_;
  mutable std::mutex mu_;
  std::vector<std::thread> threads_;
  // Connection threads that have returned, joined by the accept loop so a
  // long run (the soak bench) does not pile up finished threads.
  std::vector<std::thread::id> finished_;
  std::vector<int> conn_fds_;  // open connection sockets, for stop()
  std::string last_head_;
  bool stopping_ = false;
  std::atomic<size_t> accepted_{0};
  std::atomic<size_t> open_{0};
  std::atomic<size_t> requests_{0};
};

}  // namespace kitgate::testing
