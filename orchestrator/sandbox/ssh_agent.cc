#include "orchestrator/sandbox/ssh_agent.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "orchestrator/sandbox/plan.h"

namespace kitgate::sandbox {

SshAgentForward sshAgentToForward(const char* auth_sock) {
  SshAgentForward f;
  if (auth_sock == nullptr || *auth_sock == '\0') {
    f.note = "no SSH agent forwarded into the sandbox (SSH_AUTH_SOCK is not set)";
    return f;
  }
  const std::string path = auth_sock;
  auto none = [&](const std::string& why) {
    f.note = "no SSH agent forwarded into the sandbox (SSH_AUTH_SOCK=" + path + " " + why + ")";
    return f;
  };
  if (path.front() != '/') return none("is not an absolute path");
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return none(std::string(": ") + std::strerror(errno));
  if (!S_ISSOCK(st.st_mode)) return none("is not a socket");
  if (st.st_uid != kAgentUid) {
    f.note = "no SSH agent forwarded into the sandbox (" + path + " belongs to uid " +
             std::to_string(st.st_uid) +
             "; ssh-agent answers only its own uid and the sandbox's agent runs as uid " +
             std::to_string(kAgentUid) + ")";
    return f;
  }
  f.socket = path;
  return f;
}

}  // namespace kitgate::sandbox
