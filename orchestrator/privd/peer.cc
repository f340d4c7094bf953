#include "orchestrator/privd/peer.h"

#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace kitgate::privd {

StatusOr<PeerCred> peerCredentials(int fd) {
  struct ucred cred {};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || len != sizeof cred) {
    return Status::error(std::string("cannot read the caller's credentials: ") +
                         std::strerror(errno));
  }
  return PeerCred{cred.pid, cred.uid, cred.gid};
}

Account systemAccount(uid_t uid) {
  Account account;
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  if (::getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) != 0 || found == nullptr) {
    return account;
  }
  account.name = pw.pw_name;
  // Bounded: a user in more than 4096 groups is refused (no list), not trusted.
  int count = 64;
  for (int tries = 0; tries < 8; ++tries) {
    std::vector<gid_t> groups(static_cast<size_t>(count));
    int n = count;
    if (::getgrouplist(pw.pw_name, pw.pw_gid, groups.data(), &n) >= 0) {
      groups.resize(static_cast<size_t>(n));
      account.groups = std::move(groups);
      return account;
    }
    if (n <= count || n > 4096) break;
    count = n;
  }
  account.groups = {pw.pw_gid};
  return account;
}

std::optional<gid_t> groupId(const std::string& group) {
  std::vector<char> buf(16384);
  struct group gr {};
  struct group* found = nullptr;
  if (::getgrnam_r(group.c_str(), &gr, buf.data(), buf.size(), &found) != 0 || found == nullptr) {
    return std::nullopt;
  }
  return gr.gr_gid;
}

Status authorizePeer(const PeerCred& peer, gid_t allowed_gid, const std::string& group_name,
                     const AccountLookup& lookup) {
  if (peer.uid == 0) return Status::ok();
  const Account account = lookup(peer.uid);
  if (account.name.empty()) {
    return Status::error("refused: uid " + std::to_string(peer.uid) +
                         " has no account on this host, so it cannot be in the " + group_name +
                         " group");
  }
  if (std::find(account.groups.begin(), account.groups.end(), allowed_gid) !=
      account.groups.end()) {
    return Status::ok();
  }
  return Status::error("refused: user " + account.name + " (uid " + std::to_string(peer.uid) +
                       ") is not root and not in the " + group_name +
                       " group; an administrator can add it with `sudo usermod -aG " + group_name +
                       " " + account.name +
                       "` (then log in again), or run "
                       "kitgate with sudo");
}

}  // namespace kitgate::privd
