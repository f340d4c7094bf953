// The built-in agents: kits embedded in the library (kitloader/builtin/).
#include <algorithm>

#include "kitloader/builtin/embedded.h"
#include "kitloader/compose.h"

namespace kitgate::kit {

const std::vector<std::string>& builtinAgentNames() {
  static const std::vector<std::string> kNames = [] {
    std::vector<std::string> names;
    for (size_t i = 0; i < detail::kEmbeddedKitCount; ++i)
      names.emplace_back(detail::kEmbeddedKits[i].name);
    std::sort(names.begin(), names.end());
    return names;
  }();
  return kNames;
}

bool isShippedBuiltin(std::string_view name) { return !builtinAgentSpec(name).empty(); }

std::string_view builtinAgentSpec(std::string_view name) {
  for (size_t i = 0; i < detail::kEmbeddedKitCount; ++i) {
    if (name == detail::kEmbeddedKits[i].name) return detail::kEmbeddedKits[i].spec;
  }
  return {};
}

LoadResult loadBuiltinAgent(std::string_view name) {
  std::string_view spec = builtinAgentSpec(name);
  if (spec.empty()) {
    LoadResult r;
    r.diagnostics.push_back(Diagnostic{Severity::kError, std::string(name), 0, 0,
                                       "no built-in agent named \"" + std::string(name) + "\""});
    return r;
  }
  return loadSpecBytes(spec);
}

}  // namespace kitgate::kit
