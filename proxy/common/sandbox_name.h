// validSandboxName: the one rule for a sandbox's name, shared by every
// loader and the CLI (proxy/sandbox registry, proxy/secrets store,
// orchestrator state files and commands).
//
// 1-63 characters of a-z 0-9 - _ . with a letter or digit first: safe as a
// file name stem, a Docker name part and a log field. Pure; any thread.
#pragma once

#include <string_view>

namespace kitgate {

constexpr bool validSandboxName(std::string_view name) {
  if (name.empty() || name.size() > 63) return false;
  auto lower_or_digit = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!lower_or_digit(name[0])) return false;
  for (char c : name) {
    if (!lower_or_digit(c) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

}  // namespace kitgate
