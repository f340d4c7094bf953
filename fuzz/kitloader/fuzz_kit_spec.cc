// libFuzzer target: any bytes as spec.yaml. The loader must never crash,
// hang or throw, and every diagnostic must render.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "kitloader/kit.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  kitgate::kit::LoadOptions options;
  // Exercise argument substitution too: a value for an arg most seeds declare.
  options.args.push_back(kitgate::kit::KitArgValue{"", "token", "fuzz-token"});
  kitgate::kit::LoadResult r = kitgate::kit::loadSpecBytes(bytes, options);
  for (const auto& d : r.diagnostics) {
    (void)kitgate::kit::renderDiagnostic(d, r.spec_text, false);
  }
  return 0;
}
