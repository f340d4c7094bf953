#include "proxy/upstream/connector.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace kitgate::upstream {

using Clock = std::chrono::steady_clock;

// Where a host service is reached: IPv4 loopback, then IPv6.
std::vector<policy::IpAddress> hostLoopback() {
  static const policy::IpAddress v6 = *policy::IpAddress::parse("::1");
  return {policy::IpAddress::v4(0x7f000001), v6};
}

// One connect: DNS, then the addresses in turn. Owns its events; the
// connected fd leaves with the result.
class TcpAttempt final : public Attempt {
 public:
  TcpAttempt(TcpConnector& c, ConnectRequest req, Connector::Callback done)
      : c_(c), req_(std::move(req)), done_(std::move(done)) {
    timer_ = evtimer_new(c_.base_, &TcpAttempt::onTimer, this);
  }
  ~TcpAttempt() override {
    lookup_.reset();
    if (wev_) event_free(wev_);
    if (timer_) event_free(timer_);
  }

  // Returns false when the attempt already finished (called back).
  bool start() {
    step_start_ = Clock::now();
    if (req_.decision.host_service) {  // the host's loopback: never the resolver
      onResolved(tunnel::ResolveResult{hostLoopback(), {}});
      return !finished_;
    }
    if (req_.original && (req_.host.isIp() || req_.original_resolved)) {
      onResolved(tunnel::ResolveResult{{*req_.original}, {}});
      return !finished_;
    }
    if (req_.host.isIp()) {
      onResolved(tunnel::ResolveResult{{req_.host.ip}, {}});
      return !finished_;
    }
    if (c_.settings_.static_hosts) {
      auto it = c_.settings_.static_hosts->find(req_.host.text);
      if (it != c_.settings_.static_hosts->end()) {
        onResolved(tunnel::ResolveResult{it->second, {}});
        return !finished_;
      }
    }
    resolving_ = true;
    resolving_was_async_ = true;
    arm();
    lookup_ = c_.resolver_.resolve(req_.host.text,
                                   [this](tunnel::ResolveResult r) { onResolved(std::move(r)); });
    return !finished_;
  }

 private:
  static void onTimer(evutil_socket_t, short, void* arg) {
    auto* a = static_cast<TcpAttempt*>(arg);
    if (a->resolving_) {
      a->lookup_.reset();
      a->finish(Outcome::kDnsTimeout, {});
      return;
    }
    a->c_.metrics_.limit_hits[admin::idx(admin::Limit::kConnectTimeout)].add();
    a->onConnectDone(ETIMEDOUT);
  }
  static void onWritable(evutil_socket_t, short, void* arg) {
    auto* a = static_cast<TcpAttempt*>(arg);
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(a->fd_.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    a->onConnectDone(err);
  }

  void arm() {
    const auto ms = c_.settings_.timeout.count();
    timeval tv{static_cast<time_t>(ms / 1000), static_cast<suseconds_t>((ms % 1000) * 1000)};
    event_add(timer_, &tv);
  }

  void onResolved(tunnel::ResolveResult r) {
    resolving_ = false;
    event_del(timer_);
    if (!req_.host.isIp() && !req_.decision.host_service) {
      const auto d = Clock::now() - step_start_;
      c_.metrics_.dns_duration.observe(d);
      if (resolving_was_async_)
        result_.dns_ms = std::chrono::duration<double, std::milli>(d).count();
    }
    if (r.addresses.empty()) {
      finish(Outcome::kDnsFailure, std::move(r.error));
      return;
    }
    if (req_.original && !pinToOriginal(r.addresses)) return;
    static const policy::SelfAddresses kNoSelf;
    policy::AddressDecision ad = req_.policy->decideAddresses(
        req_.decision, r.addresses, req_.port, c_.settings_.self ? *c_.settings_.self : kNoSelf);
    result_.decision = std::move(ad.decision);  // final: never kCheckAddress
    if (result_.decision.denied()) {
      result_.address = std::move(ad.refused_address);
      finish(Outcome::kAddressBlocked, {});
      return;
    }
    candidates_ = std::move(ad.allowed);
    next_ = 0;
    connectNext();
  }

  // A transparent connection goes to the address the sandbox chose, and only
  // if its name resolves to it. False when it does not (finished).
  bool pinToOriginal(std::vector<policy::IpAddress>& addresses) {
    for (const auto& a : addresses) {
      if (a == *req_.original) {
        addresses = {*req_.original};
        return true;
      }
    }
    result_.decision = req_.decision;
    result_.decision.verdict = policy::Decision::Verdict::kDeny;
    result_.decision.rule = {};
    result_.decision.reason =
        "address " + req_.original->toString() + " is not an address of " + req_.host.text;
    result_.address = req_.original->toString();
    finish(Outcome::kAddressBlocked, {});
    return false;
  }

  void connectNext() {
    if (next_ >= candidates_.size()) {
      if (last_error_ == ETIMEDOUT) {
        finish(Outcome::kConnectTimeout, {});
      } else {
        finish(Outcome::kConnectFailed, std::strerror(last_error_));
      }
      return;
    }
    const policy::IpAddress& ip = candidates_[next_];
    sockaddr_storage ss{};
    socklen_t len = ip.toSockaddr(req_.port, &ss);
    int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      last_error_ = errno;
      ++next_;
      connectNext();
      return;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fd_.reset(fd);
    result_.address = ip.toString();
    step_start_ = Clock::now();
    if (wev_) event_free(wev_);
    wev_ = event_new(c_.base_, fd, EV_WRITE, &TcpAttempt::onWritable, this);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) == 0) {
      onConnectDone(0);
      return;
    }
    if (errno != EINPROGRESS) {
      onConnectDone(errno);
      return;
    }
    event_add(wev_, nullptr);
    arm();
  }

  void onConnectDone(int err) {
    event_del(timer_);
    event_del(wev_);
    if (err != 0) {
      fd_.reset();
      last_error_ = err;
      ++next_;
      connectNext();
      return;
    }
    const auto d = Clock::now() - step_start_;
    c_.metrics_.connect_duration.observe(d);
    result_.connect_ms = std::chrono::duration<double, std::milli>(d).count();
    result_.fd = std::move(fd_);
    finish(Outcome::kConnected, {});
  }

  // Calls back last: the callback may destroy this attempt.
  void finish(Outcome outcome, std::string detail) {
    finished_ = true;
    result_.outcome = outcome;
    result_.detail = std::move(detail);
    auto done = std::move(done_);
    done(std::move(result_));
  }

  TcpConnector& c_;
  ConnectRequest req_;
  Connector::Callback done_;
  ConnectResult result_;
  std::unique_ptr<tunnel::Lookup> lookup_;
  std::vector<policy::IpAddress> candidates_;
  size_t next_ = 0;
  int last_error_ = ECONNREFUSED;
  UniqueFd fd_;
  event* wev_ = nullptr;
  event* timer_ = nullptr;
  Clock::time_point step_start_;
  bool resolving_ = false;
  bool resolving_was_async_ = false;  // asked the resolver (not an IP or a static name)
  bool finished_ = false;
};

std::unique_ptr<Attempt> TcpConnector::connect(ConnectRequest request, Callback done) {
  auto a = std::make_unique<TcpAttempt>(*this, std::move(request), std::move(done));
  if (!a->start()) return nullptr;
  return a;
}

}  // namespace kitgate::upstream
