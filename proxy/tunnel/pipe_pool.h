// PipePool: a per-worker free list of kernel pipes for splice(2) relays.
//
// A tunnel borrows a pipe only while bytes are in flight between its two
// sockets and gives it back as soon as the pipe is empty, so thousands of idle
// tunnels hold no pipe at all (each pipe costs two fds and kernel memory).
// Owned by one worker; never shared across threads.
#pragma once

#include <cstddef>
#include <vector>

namespace kitgate::tunnel {

struct Pipe {
  int read_fd = -1;
  int write_fd = -1;
};

class PipePool {
 public:
  // pipe_size: F_SETPIPE_SZ applied to new pipes (0 = kernel default).
  // max_idle: pipes kept on the free list beyond that are closed.
  explicit PipePool(size_t pipe_size = 0, size_t max_idle = 64);
  ~PipePool();
  PipePool(const PipePool&) = delete;
  PipePool& operator=(const PipePool&) = delete;

  // Returns an empty pipe, or {-1,-1} when the process is out of fds.
  Pipe acquire();
  // Takes back a pipe that holds no data.
  void release(Pipe p);
  // Closes a pipe whose content is unknown (its tunnel failed mid-transfer).
  static void destroy(Pipe p);

  size_t idle() const { return free_.size(); }
  size_t created() const { return created_; }

 private:
  size_t pipe_size_;
  size_t max_idle_;
  size_t created_ = 0;
  std::vector<Pipe> free_;
};

}  // namespace kitgate::tunnel
