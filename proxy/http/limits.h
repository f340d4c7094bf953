// HeadLimits: the bounds a message head must fit in (RFC 9112 leaves them to
// the implementation). Plain value type; copy it freely, any thread.
#pragma once

#include <cstddef>

namespace kitgate::http {

struct HeadLimits {
  // Bytes from the first byte of the head through its final CRLFCRLF. A head
  // that does not end within this many bytes is answered 431 (request) or
  // counts as a bad upstream response (502).
  size_t max_head_bytes = 32 * 1024;
  // Header field lines, not counting the start line.
  size_t max_headers = 100;
};

}  // namespace kitgate::http
