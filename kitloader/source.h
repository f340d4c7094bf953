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
#include "kitloader/oci/client.h"

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
  std::vector<KitFile> files;   // content not yet substituted
  std::string required_schema;  // OCI v2: the spec must declare schemaVersion "2"
  std::string directory;        // directory and git: the kit directory (canonical)
  std::string oci_reference;    // OCI: the reference and its manifest
  std::string manifest_digest;
  std::string manifest_media_type;
  size_t manifest_size = 0;
};

// Reads `ref` (already classified as `kind`) into `out`; no policy applied.
bool readSource(std::string_view ref, RefKind kind, const LoadOptions& options, KitSource* out,
                std::vector<Diagnostic>* diags);

// The OCI client options of `options` (registry logins, insecure registries).
oci::ClientOptions ociClientOptions(const LoadOptions& options);

// The kit content digest of `source` (kit.h, "signatures").
std::string contentDigest(const KitSource& source);

// Which kind of source a reference names (no I/O beyond a stat).
RefKind classifyRef(std::string_view ref);

bool readDirectorySource(const std::string& dir, RefKind kind, KitSource* out,
                         std::vector<Diagnostic>* diags);
bool readZipSource(const std::string& path, KitSource* out, std::vector<Diagnostic>* diags);
// A ZIP held in memory (an OCI v1 kit layer); `label` names it in messages.
bool readZipBytes(std::string_view bytes, const std::string& label, KitSource* out,
                  std::vector<Diagnostic>* diags);
// An OCI kit (kit-spec §6.3): manifest and blobs pulled and verified.
bool readOciSource(std::string_view ref, const LoadOptions& options, KitSource* out,
                   std::vector<Diagnostic>* diags);
bool readGitSource(std::string_view ref, const LoadOptions& options, KitSource* out,
                   std::vector<Diagnostic>* diags);

// Loads the kit directory `dir` and builds its reproducible `kit pack` ZIP in
// `zip`; `raw` gets the unsubstituted payload. `error` is set when the
// reference is not a directory or cannot be re-read.
LoadResult packKit(std::string_view dir, const LoadOptions& options, KitSource* raw,
                   std::string* zip, std::string* error);

// Writes `data` to `path` through a temporary file and a rename.
bool writeFileAtomic(const std::string& path, std::string_view data, std::string* error);

// `https://user:secret@host/x` -> `https://host/x` (for messages).
std::string redactUrl(std::string_view url);

}  // namespace kitgate::kit
