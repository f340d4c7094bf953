// Terminal helpers for the CLI: is a stream a colour-capable TTY.
// Any thread; no state.
#pragma once

#include <cstdio>

namespace kitgate::cli {

// True when `fd` is a TTY, NO_COLOR is unset and TERM is not "dumb".
bool colorEnabled(int fd);

}  // namespace kitgate::cli
