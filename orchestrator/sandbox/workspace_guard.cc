#include "orchestrator/sandbox/workspace_guard.h"

#include <limits.h>
#include <stdlib.h>

#include "orchestrator/docker/engine_client.h"

namespace kitgate::sandbox {

namespace {

std::string resolved(const std::string& path) {
  char buf[PATH_MAX];
  return ::realpath(path.c_str(), buf) != nullptr ? std::string(buf) : path;
}

std::string withoutTrailingSlash(std::string p) {
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p;
}

// `dir` is `path` or one of its ancestors.
bool containsOrIs(const std::string& dir, const std::string& path) {
  if (dir == "/") return true;
  return path == dir || (path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 &&
                         path[dir.size()] == '/');
}

}  // namespace

std::vector<std::string> protectedPaths() {
  std::vector<std::string> out = {"/var", "/run", std::string(docker::kDefaultDockerSocket)};
  auto socket = docker::dockerSocketFromEnvironment();
  if (socket.isOk() && *socket != docker::kDefaultDockerSocket) out.push_back(*socket);
  return out;
}

Status checkWorkspace(const std::string& workspace, const std::string& state_root,
                      const std::vector<std::string>& must_not_contain) {
  const std::string ws = withoutTrailingSlash(workspace);
  const std::string ws_real = withoutTrailingSlash(resolved(workspace));
  auto contains = [&](const std::string& raw) {
    return containsOrIs(ws, withoutTrailingSlash(raw)) ||
           containsOrIs(ws_real, withoutTrailingSlash(resolved(raw)));
  };
  auto refuse = [&](const std::string& how) {
    return Status::error(
        "workspace " + workspace + " " + how +
        ": the sandbox mounts its workspace read-write and the agent has sudo, so it could "
        "read kitgate's secrets and CA keys or drive Docker as root; pick a project "
        "directory (--workspace DIR) that holds neither the state directory "
        "(KITGATE_STATE_DIR) nor the Docker socket");
  };
  if (contains(state_root)) return refuse("contains kitgate's state directory " + state_root);
  const std::string root = withoutTrailingSlash(state_root);
  if (containsOrIs(root, ws) || containsOrIs(withoutTrailingSlash(resolved(root)), ws_real)) {
    return refuse("is inside kitgate's state directory " + state_root);
  }
  for (const std::string& p : must_not_contain) {
    if (contains(p)) return refuse("contains " + p);
  }
  return Status::ok();
}

}  // namespace kitgate::sandbox
