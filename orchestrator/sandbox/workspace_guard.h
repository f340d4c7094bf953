// Which directories may be mounted as a sandbox's workspace (issue 17 item
// 1). The workspace is mounted read-write and the agent has passwordless
// sudo, so file modes protect nothing inside it: a workspace that contains
// kitgate's state directory (secrets.yaml, CA keys, sandbox tokens, the
// admin socket) or the Docker socket (root on the host), or that is one of
// the system trees holding them (/, /var, /run), hands them to the agent.
//
// Pure functions but for realpath(); any thread.
#pragma once

#include <string>
#include <vector>

#include "proxy/common/status.h"

namespace kitgate::sandbox {

// What a workspace must not contain besides the state directory: the Docker
// socket (DOCKER_HOST's and the default) and the trees such things live in
// (/var, /run).
std::vector<std::string> protectedPaths();

// Refuses `workspace` (absolute) when it is or contains `state_root` or one
// of `must_not_contain`, or lies inside `state_root` (compared as written
// and with symlinks resolved), saying which and why.
Status checkWorkspace(const std::string& workspace, const std::string& state_root,
                      const std::vector<std::string>& must_not_contain);

}  // namespace kitgate::sandbox
