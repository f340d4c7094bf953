#include "proxy/tunnel/pipe_pool.h"

#include <fcntl.h>
#include <unistd.h>

namespace kitgate::tunnel {

PipePool::PipePool(size_t pipe_size, size_t max_idle) : pipe_size_(pipe_size), max_idle_(max_idle) {}

PipePool::~PipePool() {
  for (Pipe p : free_) destroy(p);
}

Pipe PipePool::acquire() {
  if (!free_.empty()) {
    Pipe p = free_.back();
    free_.pop_back();
    return p;
  }
  int fds[2];
  if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return {};
  if (pipe_size_ > 0) ::fcntl(fds[1], F_SETPIPE_SZ, static_cast<int>(pipe_size_));
  ++created_;
  return Pipe{fds[0], fds[1]};
}

void PipePool::release(Pipe p) {
  if (p.read_fd < 0) return;
  if (free_.size() >= max_idle_) {
    destroy(p);
    return;
  }
  free_.push_back(p);
}

void PipePool::destroy(Pipe p) {
  if (p.read_fd >= 0) ::close(p.read_fd);
  if (p.write_fd >= 0) ::close(p.write_fd);
}

}  // namespace kitgate::tunnel
