// The built-in agent kits' spec.yaml texts, embedded at build time by
// kitloader/builtin/embed.cmake (internal; sorted by name). Immutable data.
#pragma once

#include <cstddef>

namespace kitgate::kit::detail {

struct EmbeddedKit {
  const char* name;
  const char* spec;
};

extern const EmbeddedKit kEmbeddedKits[];
extern const size_t kEmbeddedKitCount;

}  // namespace kitgate::kit::detail
