// Which files may hold secrets (tokens, credential values, CA keys): the rule
// every loader of the state directory applies to the opened file's stat.
//
// Accepted: private to the owner (mode & 077 == 0: 0600, 0400), or exactly
// 0440 whose group is one of this process's groups — a Kubernetes Secret
// volume (defaultMode 0400 or 0440 with the pod's fsGroup gives root-owned
// files, mode 0440, group fsGroup, readable by the proxy through that group).
// Refused: anything readable or writable by others, group-writable, or
// group-readable by a group this process is not in. Any thread.
#pragma once

#include <sys/stat.h>

namespace kitgate {

bool privateFileMode(const struct stat& st);

}  // namespace kitgate
