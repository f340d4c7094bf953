#include "orchestrator/docker/tar.h"

#include <array>
#include <algorithm>
#include <cstring>
#include <utility>

namespace kitgate::docker {
namespace {

constexpr size_t kBlock = 512;

// ustar header field offsets and sizes (POSIX.1-1988).
struct Field {
  size_t offset;
  size_t size;
};
constexpr Field kName{0, 100};
constexpr Field kMode{100, 8};
constexpr Field kUid{108, 8};
constexpr Field kGid{116, 8};
constexpr Field kSize{124, 12};
constexpr Field kMtime{136, 12};
constexpr Field kChecksum{148, 8};
constexpr Field kType{156, 1};
constexpr Field kLinkName{157, 100};
constexpr Field kMagic{257, 6};
constexpr Field kVersion{263, 2};
constexpr Field kPrefix{345, 155};

using Header = std::array<char, kBlock>;

void putText(Header& h, Field f, std::string_view text) {
  if (text.empty()) return;  // an empty view may hold a null pointer
  std::memcpy(h.data() + f.offset, text.data(), std::min(text.size(), f.size));
}

// Zero-padded octal with a terminating NUL, as tar expects.
bool putOctal(Header& h, Field f, uint64_t value) {
  std::string digits;
  do {
    digits.insert(digits.begin(), static_cast<char>('0' + (value & 7)));
    value >>= 3;
  } while (value != 0);
  if (digits.size() > f.size - 1) return false;
  digits.insert(digits.begin(), f.size - 1 - digits.size(), '0');
  putText(h, f, digits);
  return true;
}

// Normalizes `path` and splits it into ustar's prefix and name.
Status splitName(std::string_view path, std::string& prefix, std::string& name) {
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
  if (path.size() <= kName.size) {
    prefix.clear();
    name.assign(path);
    return Status::ok();
  }
  // Split at a '/' so that the name fits 100 bytes and the prefix 155.
  for (size_t slash = path.find('/'); slash != std::string_view::npos; slash = path.find('/', slash + 1)) {
    if (slash <= kPrefix.size && path.size() - slash - 1 <= kName.size && slash + 1 < path.size()) {
      prefix.assign(path.substr(0, slash));
      name.assign(path.substr(slash + 1));
      return Status::ok();
    }
  }
  return Status::error("tar: path too long for ustar: \"" + std::string(path) + "\"");
}

}  // namespace

Status TarWriter::addFile(std::string_view path, std::string_view content, uint32_t mode,
                          TarEntryOwner owner) {
  return addEntry(path, '0', content, {}, mode, owner);
}

Status TarWriter::addDirectory(std::string_view path, uint32_t mode, TarEntryOwner owner) {
  return addEntry(path, '5', {}, {}, mode, owner);
}

Status TarWriter::addSymlink(std::string_view path, std::string_view target, TarEntryOwner owner) {
  if (target.size() > kLinkName.size) return Status::error("tar: symlink target too long");
  return addEntry(path, '2', {}, target, 0777, owner);
}

Status TarWriter::addEntry(std::string_view path, char type, std::string_view content,
                           std::string_view link_target, uint32_t mode, TarEntryOwner owner) {
  std::string prefix;
  std::string name;
  if (Status s = splitName(path, prefix, name); !s.isOk()) return s;
  if (type == '5' && name.back() != '/' && name.size() < kName.size) name.push_back('/');

  Header h{};
  putText(h, kName, name);
  putText(h, kPrefix, prefix);
  if (!putOctal(h, kMode, mode & 07777) || !putOctal(h, kUid, owner.uid) ||
      !putOctal(h, kGid, owner.gid) || !putOctal(h, kSize, content.size()) ||
      !putOctal(h, kMtime, 0)) {
    return Status::error("tar: a field of \"" + std::string(path) + "\" does not fit ustar");
  }
  h[kType.offset] = type;
  putText(h, kLinkName, link_target);
  putText(h, kMagic, std::string_view("ustar\0", 6));
  putText(h, kVersion, "00");
  // The checksum is computed with its own field read as spaces.
  std::memset(h.data() + kChecksum.offset, ' ', kChecksum.size);
  uint32_t sum = 0;
  for (char c : h) sum += static_cast<unsigned char>(c);
  std::string digits(6, '0');
  for (int i = 5; i >= 0; --i, sum >>= 3) digits[static_cast<size_t>(i)] = static_cast<char>('0' + (sum & 7));
  putText(h, kChecksum, digits);
  h[kChecksum.offset + 6] = '\0';
  h[kChecksum.offset + 7] = ' ';

  out_.append(h.data(), h.size());
  out_.append(content);
  out_.append((kBlock - content.size() % kBlock) % kBlock, '\0');
  return Status::ok();
}

std::string TarWriter::finish() {
  out_.append(2 * kBlock, '\0');
  return std::exchange(out_, std::string());
}

}  // namespace kitgate::docker
