// TlsTransport: a connection's Transport over a tls::TlsStream, so the one
// HTTP/1 exchange driven by proxy/server/connection.cc also serves
// intercepted connections (TLS toward the sandbox with a minted leaf,
// verified TLS toward the real upstream, upstream/tls_client.h).
//
// Thread: the owning worker's loop. Owns the TlsStream, not the fd.
#pragma once

#include <memory>

#include "proxy/tls/tls_stream.h"
#include "proxy/tunnel/transport.h"

namespace kitgate::mitm {

class TlsTransport final : public tunnel::Transport {
 public:
  explicit TlsTransport(std::unique_ptr<tls::TlsStream> stream) : stream_(std::move(stream)) {}

  int fd() const override { return stream_->fd(); }
  tunnel::Io read(evbuffer* buf, size_t max, size_t* n) override;
  tunnel::Io write(evbuffer* buf) override;
  void shutdownWrite() override;
  bool hasBuffered() const override { return stream_->pending() > 0; }
  bool readBlockedOnWrite() const override { return read_wants_write_; }
  bool writeBlockedOnRead() const override { return write_wants_read_; }

  tls::TlsStream& stream() { return *stream_; }
  // Why the last call returned kError ("" otherwise); never contains data.
  const std::string& error() const { return error_; }

 private:
  std::unique_ptr<tls::TlsStream> stream_;
  bool read_wants_write_ = false;
  bool write_wants_read_ = false;
  std::string error_;
};

}  // namespace kitgate::mitm
