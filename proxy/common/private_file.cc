#include "proxy/common/private_file.h"

#include <unistd.h>

#include <vector>

namespace kitgate {

namespace {

bool inOwnGroups(gid_t gid) {
  if (gid == ::getegid() || gid == ::getgid()) return true;
  const int n = ::getgroups(0, nullptr);
  if (n <= 0) return false;
  std::vector<gid_t> groups(static_cast<size_t>(n));
  const int got = ::getgroups(n, groups.data());
  for (int i = 0; i < got; ++i) {
    if (groups[static_cast<size_t>(i)] == gid) return true;
  }
  return false;
}

}  // namespace

bool privateFileMode(const struct stat& st) {
  const mode_t mode = st.st_mode & 07777;
  if ((mode & 077) == 0) return true;
  return mode == 0440 && inOwnGroups(st.st_gid);
}

}  // namespace kitgate
