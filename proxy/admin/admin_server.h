// AdminServer: the small HTTP/1.1 endpoints outside the data path.
//
//   metrics listener:  GET /metrics   Prometheus text format
//   admin listener:    GET /healthz   200 "ok" while the process runs
//                      GET /readyz    200 when serving, 503 while draining
//                      POST /reload   re-read config state, 200 or 500 + the errors
//                      GET /metrics   also served here
// The admin listener should be loopback or a unix socket (`unix:/path`,
// created 0600): /reload is unauthenticated by design.
//
// Thread: runs on the event_base it is given (the server's main loop), never
// on a worker. Handlers run on that thread. One request per connection.
#pragma once

#include <event2/event.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "proxy/common/status.h"
#include "proxy/common/unique_fd.h"

namespace kitgate::admin {

struct AdminHandlers {
  std::function<std::string()> metrics;
  std::function<Status()> reload;
  std::function<bool()> ready;
};

class AdminServer {
 public:
  AdminServer(event_base* base, AdminHandlers handlers);
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // `addr`: "ip:port" or "unix:/path". metrics_only: only /metrics.
  Status listen(const std::string& addr, bool metrics_only);
  // The bound address of the i-th listener ("127.0.0.1:9090"), for logs.
  std::string boundAddress(size_t i) const;

 private:
  struct Listener {
    UniqueFd fd;
    event* ev = nullptr;
    bool metrics_only = false;
    std::string unix_path;
  };
  struct Conn;
  static void onAccept(evutil_socket_t fd, short, void* arg);
  static void onConnEvent(evutil_socket_t fd, short what, void* arg);
  void handle(Conn* c);
  void finish(Conn* c);

  event_base* base_;
  AdminHandlers handlers_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::vector<Conn*> conns_;
};

}  // namespace kitgate::admin
