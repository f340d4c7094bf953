#include "proxy/upstream/tls_client.h"

#include <utility>

#include "proxy/mitm/tls_transport.h"

namespace kitgate::upstream {

TlsClient::~TlsClient() = default;

std::unique_ptr<TlsClient> TlsClient::start(const Params& p, Callback done) {
  const std::string key = p.host + ":" + std::to_string(p.port);
  auto stream = tls::TlsStream::connect(p.fd, *p.context, p.host, p.sessions, key);
  if (!stream) {
    done(TlsResult{TlsResult::Outcome::kSetupFailed, nullptr,
                   "upstream TLS setup failed: " + stream.status().message()});
    return nullptr;
  }
  if (p.offer_h2) {
    if (Status st = stream.value()->offerHttp2(); !st) {
      done(TlsResult{TlsResult::Outcome::kSetupFailed, nullptr,
                     "upstream TLS setup failed: " + st.message()});
      return nullptr;
    }
  }
  std::unique_ptr<TlsClient> c(new TlsClient());
  c->done_ = std::move(done);
  c->host_ = p.host;
  auto transport = std::make_unique<mitm::TlsTransport>(std::move(stream.value()));
  tls::TlsStream& s = transport->stream();
  c->transport_ = std::move(transport);
  TlsClient* self = c.get();
  c->handshake_ = std::make_unique<mitm::Handshake>(
      p.base, s, p.timeout, [self](mitm::Handshake::Outcome o, std::string error) {
        self->finished_ = true;
        TlsResult r;
        switch (o) {
          case mitm::Handshake::Outcome::kDone:
            r.outcome = TlsResult::Outcome::kOk;
            r.transport = std::move(self->transport_);
            break;
          case mitm::Handshake::Outcome::kTimedOut:
            r.outcome = TlsResult::Outcome::kTimedOut;
            r.error = std::move(error);
            break;
          case mitm::Handshake::Outcome::kFailed:
            r.outcome = TlsResult::Outcome::kFailed;
            r.error = "TLS with upstream " + self->host_ +
                      " failed: " + (error.empty() ? std::string("connection closed") : error);
            break;
        }
        auto cb = std::move(self->done_);
        cb(std::move(r));  // may destroy the client: nothing after
      });
  c->handshake_->start();
  if (c->finished_) return nullptr;
  return c;
}

}  // namespace kitgate::upstream
