// relayTerminal: connects the local terminal to an attached container TTY
// (DockerClient::attach) until the container side closes: bytes typed go to
// the container, its output goes to `out_fd`. When `in_fd` is a TTY it is put
// into raw mode for the duration (restored on every return path), and window
// size changes (SIGWINCH, read through a signalfd) are forwarded with
// DockerClient::resizeTty.
//
// Blocks the calling thread (blocks SIGWINCH in it while relaying). Takes
// ownership of the stream; borrows the client.
#pragma once

#include <functional>
#include <string>

#include "orchestrator/docker/docker_client.h"
#include "proxy/common/status.h"

namespace kitgate::sandbox {

Status relayTerminal(docker::DockerClient& docker, const std::string& container_id,
                     docker::AttachStream stream, int in_fd, int out_fd);

// The same for any TTY stream: `resize(rows, cols)` forwards a window size
// (a container's TTY or an exec's).
using ResizeFn = std::function<void(int rows, int cols)>;
Status relayTerminal(const ResizeFn& resize, docker::AttachStream stream, int in_fd, int out_fd);

}  // namespace kitgate::sandbox
