#include "proxy/tunnel/transport.h"

#include <sys/socket.h>

#include <cerrno>

namespace kitgate::tunnel {

Io PlainTransport::read(evbuffer* buf, size_t max, size_t* n) {
  *n = 0;
  int r = evbuffer_read(buf, fd_, static_cast<int>(max));
  if (r > 0) {
    *n = static_cast<size_t>(r);
    return Io::kOk;
  }
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
