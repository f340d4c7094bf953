// The daemon side of the privileged-request socket (protocol.h).
//
// Server binds a unix socket, makes it root:<group> 0660 (the first gate),
// and serves one connection at a time on the calling thread: one bounded
// request is read (kMaxMessageBytes kept, a little more drained so the
// answer is not lost to a reset; a read timeout so a silent client cannot
// hold the daemon), then SO_PEERCRED through the Authorizer (the second
// gate, peer.h) before anything looks at it, parseRequest(), the Handler,
// one response. A refused or malformed request gets an error response and
// changes nothing. Every request is logged as one line (uid, verb, sandbox
// name, outcome) — never a field value beyond the name.
//
// Threads: run() on one thread; stop() from any thread or a signal handler.
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>

#include "orchestrator/privd/peer.h"
#include "orchestrator/privd/protocol.h"
#include "proxy/common/status.h"
#include "proxy/common/unique_fd.h"

namespace kitgate::privd {

// What the daemon does for an authorized, well-formed request.
class Handler {
 public:
  virtual ~Handler() = default;
  virtual Response handle(const Request& request, const PeerCred& peer) = 0;
};

using Authorizer = std::function<Status(const PeerCred&)>;
using LogFn = std::function<void(const std::string&)>;

class Server {
 public:
  // Replaces a stale socket file at `path` (refuses a path that is not a
  // socket); the parent directory must exist. `group` = the socket's group.
  static StatusOr<std::unique_ptr<Server>> listen(const std::string& path, gid_t group,
                                                  Authorizer authorize, Handler& handler,
                                                  LogFn log = {});
  ~Server();

  // Serves until stop(); returns ok after stop(), an error when accept fails.
  Status run();
  // Async-signal-safe.
  void stop();
  // Serves one accepted connection (tests drive this with a socketpair).
  void serveConnection(int fd);

  const std::string& path() const { return path_; }

 private:
  Server(std::string path, UniqueFd listen_fd, UniqueFd stop_read, UniqueFd stop_write,
         Authorizer authorize, Handler& handler, LogFn log);
  Response serve(int fd, std::string* what);

  std::string path_;
  UniqueFd listen_fd_, stop_read_, stop_write_;
  Authorizer authorize_;
  Handler& handler_;
  LogFn log_;
};

}  // namespace kitgate::privd
