// TarWriter: builds a small uncompressed POSIX ustar archive in memory with
// libarchive, for copying files into a container (DockerClient::putArchive).
// Entries carry their own mode, uid and gid, so files land owned by the agent
// (1000). Names longer than ustar's 100 bytes are split into prefix/name when
// possible and otherwise refused; paths that leave the archive root are
// refused before libarchive sees them.
//
// Single-threaded value type; finish() hands back the archive bytes.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "proxy/common/status.h"

struct archive;

namespace kitgate::docker {

struct TarEntryOwner {
  uint32_t uid = 0;
  uint32_t gid = 0;
};

class TarWriter {
 public:
  TarWriter();
  ~TarWriter();
  TarWriter(TarWriter&&) noexcept;
  TarWriter& operator=(TarWriter&&) noexcept;

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
  struct Deleter {
    void operator()(archive* a) const;
  };
  Status addEntry(std::string_view path, unsigned type, std::string_view content,
                  std::string_view link_target, uint32_t mode, TarEntryOwner owner);
  archive* writer();  // opened on first use, writing into out_

  std::unique_ptr<std::string> out_;  // stable address for libarchive's callback
  std::unique_ptr<archive, Deleter> a_;
};

}  // namespace kitgate::docker
