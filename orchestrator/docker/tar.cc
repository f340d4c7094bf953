#include "orchestrator/docker/tar.h"

#include <archive.h>
#include <archive_entry.h>

#include <utility>

namespace kitgate::docker {
namespace {

// ustar's field sizes (POSIX.1-1988): libarchive enforces them too; the
// symlink target is checked here for a clearer message.
constexpr size_t kLinkNameSize = 100;

la_ssize_t appendTo(archive*, void* out, const void* buf, size_t n) {
  static_cast<std::string*>(out)->append(static_cast<const char*>(buf), n);
  return static_cast<la_ssize_t>(n);
}

// Drops a leading "./" or "/", refuses "" and any ".." component.
Status normalize(std::string_view& path) {
  while (path.substr(0, 2) == "./") path.remove_prefix(2);
  while (!path.empty() && path.front() == '/') path.remove_prefix(1);
  if (path.empty()) return Status::error("tar: empty path");
  for (size_t start = 0; start <= path.size();) {
    size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    if (path.substr(start, slash - start) == "..") {
      return Status::error("tar: path \"" + std::string(path) + "\" leaves the archive root");
    }
    start = slash + 1;
  }
  return Status::ok();
}

struct EntryDeleter {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};

}  // namespace

void TarWriter::Deleter::operator()(archive* a) const { archive_write_free(a); }

TarWriter::TarWriter() : out_(std::make_unique<std::string>()) {}
TarWriter::~TarWriter() = default;
TarWriter::TarWriter(TarWriter&&) noexcept = default;
TarWriter& TarWriter::operator=(TarWriter&&) noexcept = default;

archive* TarWriter::writer() {
  if (a_) return a_.get();
  a_.reset(archive_write_new());
  // No blocking: the archive is exactly its entries plus the two zero
  // blocks that end it (Docker does not need 10 KiB records).
  if (a_ == nullptr || archive_write_set_format_ustar(a_.get()) != ARCHIVE_OK ||
      archive_write_set_bytes_per_block(a_.get(), 0) != ARCHIVE_OK ||
      archive_write_open2(a_.get(), out_.get(), nullptr, &appendTo, nullptr, nullptr) !=
          ARCHIVE_OK) {
    a_.reset();
  }
  return a_.get();
}

Status TarWriter::addFile(std::string_view path, std::string_view content, uint32_t mode,
                          TarEntryOwner owner) {
  return addEntry(path, AE_IFREG, content, {}, mode, owner);
}

Status TarWriter::addDirectory(std::string_view path, uint32_t mode, TarEntryOwner owner) {
  return addEntry(path, AE_IFDIR, {}, {}, mode, owner);
}

Status TarWriter::addSymlink(std::string_view path, std::string_view target, TarEntryOwner owner) {
  if (target.size() > kLinkNameSize) return Status::error("tar: symlink target too long");
  return addEntry(path, AE_IFLNK, {}, target, 0777, owner);
}

Status TarWriter::addEntry(std::string_view path, unsigned type, std::string_view content,
                           std::string_view link_target, uint32_t mode, TarEntryOwner owner) {
  if (Status s = normalize(path); !s.isOk()) return s;
  archive* a = writer();
  if (a == nullptr) return Status::error("tar: libarchive could not start an archive");
  std::unique_ptr<archive_entry, EntryDeleter> e(archive_entry_new());
  const std::string name(path);
  archive_entry_set_pathname(e.get(), name.c_str());
  archive_entry_set_filetype(e.get(), type);
  archive_entry_set_perm(e.get(), mode & 07777);
  archive_entry_set_uid(e.get(), owner.uid);
  archive_entry_set_gid(e.get(), owner.gid);
  archive_entry_set_mtime(e.get(), 0, 0);
  archive_entry_set_size(e.get(), static_cast<la_int64_t>(content.size()));
  const std::string target(link_target);
  if (type == AE_IFLNK) archive_entry_set_symlink(e.get(), target.c_str());
  // A refused entry (a name ustar cannot hold) writes nothing; the archive
  // stays usable for the next one.
  if (archive_write_header(a, e.get()) < ARCHIVE_WARN) {
    return Status::error("tar: \"" + name + "\": " + archive_error_string(a));
  }
  if (!content.empty() && archive_write_data(a, content.data(), content.size()) < 0) {
    return Status::error("tar: \"" + name + "\": " + archive_error_string(a));
  }
  return Status::ok();
}

std::string TarWriter::finish() {
  if (archive* a = writer()) archive_write_close(a);
  a_.reset();
  return std::exchange(*out_, std::string());
}

}  // namespace kitgate::docker
