#include "orchestrator/cli/terminal.h"

#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace kitgate::cli {

bool colorEnabled(int fd) {
  if (!::isatty(fd)) return false;
  const char* no_color = std::getenv("NO_COLOR");
  if (no_color && *no_color) return false;
  const char* term = std::getenv("TERM");
  return !(term && std::strcmp(term, "dumb") == 0);
}

}  // namespace kitgate::cli
