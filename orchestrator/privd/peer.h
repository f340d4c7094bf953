// Who is on the other end of the daemon's socket, and may they ask.
//
// The kernel's SO_PEERCRED (uid, gid, pid of the connecting process) is the
// only identity the daemon trusts. A caller is allowed when its uid is 0 or
// when the account of that uid is a member of the allowed group (the docker
// group: the same people who may already drive the root Docker daemon). The
// group list comes from the account database (getgrouplist of the uid's
// name and primary gid), not from the peer's process, so a process that
// dropped or never had the group is judged by its account. The socket file
// itself is root:<group> 0660 as the first gate; this is the second.
//
// Pure except peerCredentials()/systemGroups()/groupId(); any thread.
#pragma once

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "proxy/common/status.h"

namespace kitgate::privd {

struct PeerCred {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
};

// SO_PEERCRED of a connected unix socket.
StatusOr<PeerCred> peerCredentials(int fd);

// An account as the check needs it: its name and every group it is in.
struct Account {
  std::string name;           // "" = no account for the uid
  std::vector<gid_t> groups;  // primary group included
};
using AccountLookup = std::function<Account(uid_t)>;
// getpwuid_r + getgrouplist.
Account systemAccount(uid_t uid);
// getgrnam_r; nullopt when the group does not exist.
std::optional<gid_t> groupId(const std::string& group);

// Ok for uid 0 and for members of `allowed_gid`; otherwise an error that
// names the user, the group and the fix.
Status authorizePeer(const PeerCred& peer, gid_t allowed_gid, const std::string& group_name,
                     const AccountLookup& lookup);

}  // namespace kitgate::privd
