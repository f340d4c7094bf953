// maskSecret: the preview of a secret value that `kitgate secret ls` prints
// (kit-spec §5.8). No yaml, no I/O: the orchestrator links it directly.
//
// Pure function, any thread. Lengths count UTF-8 characters, not bytes:
//   <= 6 characters   every character becomes '*'
//   7 .. 19           the first 6 stay visible, the rest become '*'
//   >= 20             the first 6 and the last 4 stay visible, '*' between;
//                     at most 25 characters: longer values show
//                     first 6 + 12 '*' + "..." + last 4.
// Visible control characters are shown as '?'.
#pragma once

#include <string>
#include <string_view>

namespace kitgate::secrets {

std::string maskSecret(std::string_view secret);

}  // namespace kitgate::secrets
