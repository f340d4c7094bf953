#include "proxy/tunnel/transport.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

namespace kitgate::tunnel {

Io PlainTransport::read(evbuffer* buf, size_t max, size_t* n) {
  // recv into reserved space: one syscall (evbuffer_read adds a FIONREAD).
  *n = 0;
  evbuffer_iovec v;
  if (evbuffer_reserve_space(buf, static_cast<ev_ssize_t>(max), &v, 1) < 1) return Io::kError;
  ssize_t r = ::recv(fd_, v.iov_base, std::min(max, v.iov_len), 0);
  if (r > 0) {
    v.iov_len = static_cast<size_t>(r);
    evbuffer_commit_space(buf, &v, 1);
    *n = static_cast<size_t>(r);
    return Io::kOk;
  }
  evbuffer_commit_space(buf, &v, 0);
  if (r == 0) return Io::kEof;
  return (errno == EAGAIN || errno == EINTR) ? Io::kWouldBlock : Io::kError;
}

Io PlainTransport::write(evbuffer* buf) {
  while (evbuffer_get_length(buf) > 0) {
    int r = evbuffer_write(buf, fd_);
    if (r < 0) return (errno == EAGAIN || errno == EINTR) ? Io::kWouldBlock : Io::kError;
  }
  return Io::kOk;
}

void PlainTransport::shutdownWrite() { ::shutdown(fd_, SHUT_WR); }

}  // namespace kitgate::tunnel
