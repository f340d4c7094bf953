// Kit sources (internal): a reference -> spec bytes + files/ payload.
//
// Directory: spec.yaml (else spec.yml), files/home/** and files/workspace/**;
// symlinks that resolve outside the kit are errors. ZIP (libarchive, read in
// memory, never extracted): absolute paths, `..` components and links are
// rejected; sizes bounded. Git: `git+https://…#ref=R&dir=D` / `git+file://`
// cloned with the `git` program (posix_spawn, no shell) into a cache dir.
// Problems come back as Diagnostics. Single-threaded per call.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "kitloader/kit.h"

namespace kitgate::kit {

inline constexpr size_t kMaxSpecBytes = 1 << 20;     // spec.yaml
inline constexpr size_t kMaxFileBytes = 16u << 20;   // one files/ entry
inline constexpr size_t kMaxTotalBytes = 64u << 20;  // all files/
inline constexpr size_t kMaxFiles = 4096;            // files/ entries
inline constexpr size_t kMaxZipEntries = 10000;

struct KitSource {
  RefKind kind = RefKind::kDirectory;
  bool has_spec = false;
  std::string spec_name = "spec.yaml";
  std::string spec_bytes;
  std::vector<KitFile> files;  // content not yet substituted
};

// Which kind of source a reference names (no I/O beyond a stat).
RefKind classifyRef(std::string_view ref);

bool readDirectorySource(const std::string& dir, RefKind kind, KitSource* out,
                         std::vector<Diagnostic>* diags);
bool readZipSource(const std::string& path, KitSource* out, std::vector<Diagnostic>* diags);
bool readGitSource(std::string_view ref, const LoadOptions& options, KitSource* out,
                   std::vector<Diagnostic>* diags);

// `https://user:secret@host/x` -> `https://host/x` (for messages).
std::string redactUrl(std::string_view url);

}  // namespace kitgate::kit
