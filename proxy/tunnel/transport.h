// Transport: how a session moves bytes between an evbuffer and a socket —
// in the clear (PlainTransport) or through TLS (mitm::TlsTransport). The
// session's HTTP exchange loop is written once against this interface and
// serves both plain-HTTP forwarding and intercepted (MITM) connections.
//
// Non-blocking; every call returns at once. Thread: the owning worker's loop.
// A transport does not own its fd (the session does).
#pragma once

#include <event2/buffer.h>

#include <cstddef>

namespace kitgate::tunnel {

enum class Io {
  kOk,          // moved at least one byte (read) / wrote what it could (write)
  kWouldBlock,  // nothing moved; wait for readiness (see blockedOn*)
  kEof,         // the peer ended the stream cleanly
  kError,       // fatal
};

class Transport {
 public:
  virtual ~Transport() = default;
  virtual int fd() const = 0;
  // Appends up to `max` bytes to `buf`; *n = bytes appended.
  virtual Io read(evbuffer* buf, size_t max, size_t* n) = 0;
  // Writes from the front of `buf`, draining what was written.
  virtual Io write(evbuffer* buf) = 0;
  // Ends our sending direction (FIN, or TLS close_notify then FIN).
  virtual void shutdownWrite() = 0;
  // Bytes already received and decoded that read() can return without the
  // fd becoming readable again (TLS records buffered in user space).
  virtual bool hasBuffered() const { return false; }
  // TLS only: the last read() would block until the fd is *writable*, or the
  // last write() until it is *readable*.
  virtual bool readBlockedOnWrite() const { return false; }
  virtual bool writeBlockedOnRead() const { return false; }
};

class PlainTransport final : public Transport {
 public:
  explicit PlainTransport(int fd) : fd_(fd) {}
  int fd() const override { return fd_; }
  Io read(evbuffer* buf, size_t max, size_t* n) override;
  Io write(evbuffer* buf) override;
  void shutdownWrite() override;

 private:
  int fd_;
};

}  // namespace kitgate::tunnel
