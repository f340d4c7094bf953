// The kit content digest (kit.h, "signatures"): what a kit signature covers,
// the same for a directory, its ZIP and its pushed OCI artifact.
#include <algorithm>
#include <string>
#include <vector>

#include "kitloader/oci/sha256.h"
#include "kitloader/source.h"

namespace kitgate::kit {

std::string contentDigest(const KitSource& source) {
  struct Line {
    std::string path;
    std::string text;
  };
  std::vector<Line> lines;
  lines.reserve(source.files.size());
  for (const KitFile& f : source.files) {
    std::string path =
        std::string(f.target == FileTarget::kHome ? "home/" : "workspace/") + f.relative_path;
    std::string text = std::string((f.mode & 0111) ? "755 " : "644 ") +
                       oci::sha256Digest(f.content) + " " + std::to_string(path.size()) + " " +
                       path + "\n";
    lines.push_back({std::move(path), std::move(text)});
  }
  std::sort(lines.begin(), lines.end(),
            [](const Line& a, const Line& b) { return a.path < b.path; });
  std::string canonical =
      "kitgate-kit-content-v1\nspec " + oci::sha256Digest(source.spec_bytes) + "\n";
  for (const Line& l : lines) canonical += l.text;
  return oci::sha256Digest(canonical);
}

}  // namespace kitgate::kit
