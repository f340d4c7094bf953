#include "proxy/tunnel/resolver.h"

#include <event2/dns.h>
#include <event2/util.h>
#include <netdb.h>

namespace kitgate::tunnel {
namespace {

// Heap state of one evdns lookup, shared by evdns (until its callback has
// run) and the Lookup handle (until destroyed); whichever lets go last frees it.
struct Pending {
  Resolver::Callback cb;
  bool done = false;         // evdns callback has run
  bool handle_alive = true;  // the EvdnsLookup handle still exists
};

class EvdnsLookup final : public Lookup {
 public:
  EvdnsLookup(Pending* p, evdns_getaddrinfo_request* req) : p_(p), req_(req) {}
  ~EvdnsLookup() override {
    p_->handle_alive = false;
    if (p_->done) {
      delete p_;
    } else {
      evdns_getaddrinfo_cancel(req_);  // the callback runs with EAI_CANCEL and frees p_
    }
  }

 private:
  Pending* p_;
  evdns_getaddrinfo_request* req_;
};

void onAddrinfo(int err, evutil_addrinfo* res, void* arg) {
  auto* p = static_cast<Pending*>(arg);
  ResolveResult r;
  if (err == 0) {
    for (evutil_addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
      if (auto ip =
              policy::IpAddress::fromSockaddr(ai->ai_addr, static_cast<socklen_t>(ai->ai_addrlen)))
        r.addresses.push_back(*ip);
    }
    if (r.addresses.empty()) r.error = "no addresses";
  } else {
    r.error = evutil_gai_strerror(err);
  }
  if (res) evutil_freeaddrinfo(res);
  p->done = true;
  bool deliver = p->handle_alive;
  Resolver::Callback cb = std::move(p->cb);
  if (!p->handle_alive) delete p;  // else the handle frees it
  if (deliver) cb(std::move(r));   // may destroy the handle: p is not touched after this
}

}  // namespace

EvdnsResolver::EvdnsResolver(event_base* base, const char* resolv_conf) {
  if (resolv_conf != nullptr) {
    dns_ = evdns_base_new(base, EVDNS_BASE_DISABLE_WHEN_INACTIVE);
    if (dns_ != nullptr && evdns_base_resolv_conf_parse(dns_, DNS_OPTIONS_ALL, resolv_conf) != 0) {
      evdns_base_free(dns_, 1);
      dns_ = nullptr;
    }
  } else {
    dns_ =
        evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS | EVDNS_BASE_DISABLE_WHEN_INACTIVE);
  }
  if (dns_ == nullptr) {
    // No usable resolv.conf: still serve /etc/hosts and the static map.
    dns_ = evdns_base_new(base, 0);
  }
  evdns_base_search_clear(dns_);  // absolute names only
  evdns_base_load_hosts(dns_, nullptr);
  evdns_base_set_option(dns_, "timeout:", "3");
  evdns_base_set_option(dns_, "attempts:", "2");
}

EvdnsResolver::~EvdnsResolver() {
  if (dns_) evdns_base_free(dns_, /*fail_requests=*/1);
}

std::unique_ptr<Lookup> EvdnsResolver::resolve(const std::string& host, Callback cb) {
  evutil_addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  hints.ai_flags = EVUTIL_AI_ADDRCONFIG;
  auto* p = new Pending{std::move(cb)};
  evdns_getaddrinfo_request* req =
      evdns_getaddrinfo(dns_, host.c_str(), nullptr, &hints, &onAddrinfo, p);
  if (req == nullptr) {  // answered synchronously: the callback already ran
    delete p;
    return nullptr;
  }
  return std::make_unique<EvdnsLookup>(p, req);
}

}  // namespace kitgate::tunnel
