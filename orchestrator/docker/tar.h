// TarWriter: builds a small uncompressed POSIX ustar archive in memory, for
// copying files into a container (DockerClient::putArchive). Entries carry
// their own mode, uid and gid, so files land owned by the agent (1000).
// Names longer than ustar's 100 bytes are split into prefix/name when
// possible and otherwise refused.
//
// Single-threaded value type; finish() hands back the archive bytes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "proxy/common/status.h"

namespace kitgate::docker {

struct TarEntryOwner {
  uint32_t uid = 0;
  uint32_t gid = 0;
};

class TarWriter {
 public:
  // `path` is relative ("home/agent/.bashrc"); a leading "/" or "./" is
  // dropped. Any ".." component is refused.
  Status addFile(std::string_view path, std::string_view content, uint32_t mode,
                 TarEntryOwner owner = {});
  Status addDirectory(std::string_view path, uint32_t mode, TarEntryOwner owner = {});
  Status addSymlink(std::string_view path, std::string_view target, TarEntryOwner owner = {});

  // Appends the end-of-archive marker and returns the archive; the writer is
  // empty afterwards.
  std::string finish();

 private:
  Status addEntry(std::string_view path, char type, std::string_view content,
                  std::string_view link_target, uint32_t mode, TarEntryOwner owner);

  std::string out_;
};

}  // namespace kitgate::docker
