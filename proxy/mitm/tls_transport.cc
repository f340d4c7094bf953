#include "proxy/mitm/tls_transport.h"

#include <sys/socket.h>

namespace kitgate::mitm {
namespace {
constexpr size_t kRecord = 16 * 1024;  // one TLS record's worth of plaintext
}

tunnel::Io TlsTransport::read(evbuffer* buf, size_t max, size_t* n) {
  *n = 0;
  read_wants_write_ = false;
  while (*n < max) {
    evbuffer_iovec v;
    size_t want = std::min(kRecord, max - *n);
    if (evbuffer_reserve_space(buf, static_cast<ev_ssize_t>(want), &v, 1) < 1)
      return tunnel::Io::kError;
    tls::IoResult r =
        stream_->read(static_cast<char*>(v.iov_base), std::min(want, v.iov_len), *n > 0);
    if (r.status == tls::IoStatus::kOk && r.bytes > 0) {
      v.iov_len = r.bytes;
      evbuffer_commit_space(buf, &v, 1);
      *n += r.bytes;
      continue;
    }
    evbuffer_commit_space(buf, &v, 0);
    switch (r.status) {
      case tls::IoStatus::kOk:
      case tls::IoStatus::kWantRead:
        return *n > 0 ? tunnel::Io::kOk : tunnel::Io::kWouldBlock;
      case tls::IoStatus::kWantWrite:
        read_wants_write_ = true;
        return *n > 0 ? tunnel::Io::kOk : tunnel::Io::kWouldBlock;
      case tls::IoStatus::kClosed:
      case tls::IoStatus::kTruncated:
        return *n > 0 ? tunnel::Io::kOk : tunnel::Io::kEof;
      case tls::IoStatus::kError:
        error_ = r.error;
        return *n > 0 ? tunnel::Io::kOk : tunnel::Io::kError;
    }
  }
  return tunnel::Io::kOk;
}

tunnel::Io TlsTransport::write(evbuffer* buf) {
  write_wants_read_ = false;
  while (evbuffer_get_length(buf) > 0) {
    // One record at a time, contiguous, so a retry after kWant* passes the
    // same bytes again (the backend requires it).
    size_t len = std::min(kRecord, evbuffer_get_length(buf));
    const char* p =
        reinterpret_cast<const char*>(evbuffer_pullup(buf, static_cast<ev_ssize_t>(len)));
    tls::IoResult r = stream_->write(p, len);
    if (r.status == tls::IoStatus::kOk) {
      evbuffer_drain(buf, r.bytes);
      continue;
    }
    if (r.status == tls::IoStatus::kWantWrite) return tunnel::Io::kWouldBlock;
    if (r.status == tls::IoStatus::kWantRead) {
      write_wants_read_ = true;
      return tunnel::Io::kWouldBlock;
    }
    error_ = r.error;
    return tunnel::Io::kError;
  }
  return tunnel::Io::kOk;
}

void TlsTransport::shutdownWrite() {
  stream_->shutdown();
  ::shutdown(stream_->fd(), SHUT_WR);
}

}  // namespace kitgate::mitm
