// Which host SSH agent a sandbox gets (kit-spec §5.13): the socket named by
// the host's SSH_AUTH_SOCK is bind-mounted at kSshAgentPath and the sandbox's
// SSH_AUTH_SOCK points there, so `git` over SSH signs with the host's keys
// while no key file ever enters the sandbox. `kitgate run --no-ssh-agent`
// turns it off.
//
// ssh-agent answers only peers of its own uid (and root); the sandbox's
// agent runs as uid 1000, so a socket another uid owns is not forwarded
// (a note says why). Pure apart from stat(2); any thread.
#pragma once

#include <string>
#include <string_view>

namespace kitgate::sandbox {

inline constexpr std::string_view kSshAgentPath = "/run/kitgate/ssh-agent.sock";

struct SshAgentForward {
  std::string socket;  // host path to forward; "" = none
  std::string note;    // one line for the user when none is forwarded
};

// `auth_sock`: the host's $SSH_AUTH_SOCK (nullptr or "" = unset).
SshAgentForward sshAgentToForward(const char* auth_sock);

}  // namespace kitgate::sandbox
