#include "orchestrator/cli/run_kits.h"

#include <algorithm>
#include <ostream>

namespace kitgate::cli {

std::optional<RunKits> loadRunKits(const std::vector<std::string>& refs, const std::string& agent,
                                   const kit::LoadOptions& options, Io& io, bool show_warnings,
                                   int* exit_code) {
  *exit_code = kExitFailed;
  std::vector<kit::ComposeKit> kits;
  RunKits out;
  bool ok = true;
  for (const std::string& ref : refs) {
    kit::LoadResult loaded = kit::load(ref, options);
    const std::string shown = kit::redactReference(ref);
    for (const kit::Diagnostic& d : loaded.diagnostics) {
      if (d.severity == kit::Severity::kError || !loaded.ok() || show_warnings) {
        const bool in_spec = d.file == loaded.spec_file;
        io.err << kit::renderDiagnostic(d, in_spec ? std::string_view(loaded.spec_text) : "",
                                        io.err_color);
      }
    }
    if (!loaded.ok() && loaded.spec_file.empty()) {
      // Never read: refused by the source policy or kit.requireSignature, or
      // not fetched — validate would not help.
      io.err << "kitgate: kit " << shown << " was not loaded (see above); nothing was created\n";
      ok = false;
      continue;
    }
    if (!loaded.ok()) {
      io.err << "kitgate: kit " << shown
             << " is invalid; fix the errors above (kitgate kit validate " << shown << ")\n";
      ok = false;
      continue;
    }
    kits.push_back({std::move(loaded.kit), shown});
    out.kit_ref += (out.kit_ref.empty() ? "" : ",") + shown;
  }
  if (!ok) return std::nullopt;
  // AGENT may be the sandbox kit's reference instead of its name (newer sbx).
  std::string agent_name = agent;
  for (size_t i = 0; i < kits.size(); ++i) {
    if (kits[i].kit.kind == kit::KitKind::kSandbox && (agent == refs[i] || agent == kits[i].ref))
      agent_name = kits[i].kit.name;
  }
  // AGENT must name the sandbox kit (when there is exactly one; compose()
  // reports two).
  const auto sandboxes = std::count_if(kits.begin(), kits.end(), [](const kit::ComposeKit& k) {
    return k.kit.kind == kit::KitKind::kSandbox;
  });
  for (const kit::ComposeKit& k : kits) {
    if (sandboxes == 1 && k.kit.kind == kit::KitKind::kSandbox && !agent_name.empty() &&
        k.kit.name != agent_name) {
      io.err << "kitgate run: kit " << k.ref << " is named \"" << k.kit.name << "\", not \""
             << agent << "\": use `kitgate run --kit " << k.ref << " " << k.kit.name << "`\n";
      *exit_code = kExitUsage;
      return std::nullopt;
    }
  }
  kit::ComposeResult composed = kit::compose(kits, agent_name);
  if (!composed.ok()) {
    io.err << "kitgate: " << composed.error << "\n";
    return std::nullopt;
  }
  std::vector<std::string> problems = kit::runtimeProblems(composed.value.kit);
  if (!problems.empty()) {
    for (const std::string& p : problems) io.err << "kitgate: " << p << "\n";
    io.err << "kitgate: kitgate's proxy cannot enforce the kit as written (sbx's validate does "
              "not check this); fix the entries above\n";
    return std::nullopt;
  }
  if (refs.empty()) out.kit_ref = composed.value.refs.front();
  out.agent = agent_name;
  out.composition = std::move(composed.value);
  return out;
}

}  // namespace kitgate::cli
