// `kit pack`: a reproducible ZIP (stored entries, sorted, fixed timestamps,
// no owner data), written by hand so the bytes never depend on the time zone
// or the library version.
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "kitloader/kit.h"
#include "kitloader/source.h"

namespace kitgate::kit {

namespace {

uint32_t crc32(std::string_view data) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t c = 0xFFFFFFFFu;
  for (unsigned char b : data) c = table[(c ^ b) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

void put16(std::string* out, uint32_t v) {
  out->push_back(static_cast<char>(v & 0xFF));
  out->push_back(static_cast<char>((v >> 8) & 0xFF));
}
void put32(std::string* out, uint32_t v) {
  put16(out, v & 0xFFFF);
  put16(out, v >> 16);
}

struct ZipEntry {
  std::string name;
  std::string content;
  uint32_t mode;
};

// 1980-01-01 00:00:00, the earliest DOS timestamp.
constexpr uint32_t kDosTime = 0;
constexpr uint32_t kDosDate = (0 << 9) | (1 << 5) | 1;

std::string buildZip(const std::vector<ZipEntry>& entries) {
  std::string out;
  std::string central;
  for (const auto& e : entries) {
    uint32_t offset = static_cast<uint32_t>(out.size());
    uint32_t crc = crc32(e.content);
    uint32_t size = static_cast<uint32_t>(e.content.size());
    put32(&out, 0x04034b50);
    put16(&out, 10);      // version needed
    put16(&out, 0x0800);  // UTF-8 names
    put16(&out, 0);       // stored
    put16(&out, kDosTime);
    put16(&out, kDosDate);
    put32(&out, crc);
    put32(&out, size);
    put32(&out, size);
    put16(&out, static_cast<uint32_t>(e.name.size()));
    put16(&out, 0);
    out += e.name;
    out += e.content;

    put32(&central, 0x02014b50);
    put16(&central, (3 << 8) | 20);  // made by Unix
    put16(&central, 10);
    put16(&central, 0x0800);
    put16(&central, 0);
    put16(&central, kDosTime);
    put16(&central, kDosDate);
    put32(&central, crc);
    put32(&central, size);
    put32(&central, size);
    put16(&central, static_cast<uint32_t>(e.name.size()));
    put16(&central, 0);
    put16(&central, 0);
    put16(&central, 0);
    put16(&central, 0);
    put32(&central, (0100000u | e.mode) << 16);
    put32(&central, offset);
    central += e.name;
  }
  uint32_t central_offset = static_cast<uint32_t>(out.size());
  out += central;
  put32(&out, 0x06054b50);
  put16(&out, 0);
  put16(&out, 0);
  put16(&out, static_cast<uint32_t>(entries.size()));
  put16(&out, static_cast<uint32_t>(entries.size()));
  put32(&out, static_cast<uint32_t>(central.size()));
  put32(&out, central_offset);
  put16(&out, 0);
  return out;
}

}  // namespace

LoadResult packKit(std::string_view dir, const LoadOptions& options, KitSource* raw,
                   std::string* zip, std::string* error) {
  LoadResult result = load(dir, options);
  if (!result.ok()) return result;
  if (result.ref_kind != RefKind::kDirectory) {
    *error = "a kit directory is needed here (not a ZIP, git or OCI reference)";
    return result;
  }
  // Re-read the raw payload: the packed kit carries the unsubstituted files.
  KitSource& source = *raw;
  std::vector<Diagnostic> ignored;
  std::string path(dir.rfind("file://", 0) == 0 ? dir.substr(7) : dir);
  if (!readDirectorySource(path, RefKind::kDirectory, &source, &ignored)) {
    *error = "cannot re-read " + path;
    return result;
  }
  std::vector<ZipEntry> entries;
  entries.push_back({"spec.yaml", source.spec_bytes, 0644});
  for (const auto& f : source.files) {
    std::string prefix = f.target == FileTarget::kHome ? "files/home/" : "files/workspace/";
    entries.push_back({prefix + f.relative_path, f.content, f.mode & 0777});
  }
  std::sort(entries.begin() + 1, entries.end(),
            [](const ZipEntry& a, const ZipEntry& b) { return a.name < b.name; });
  if (entries.size() > 0xFFFF) {
    *error = "too many files for a ZIP";
    return result;
  }
  *zip = buildZip(entries);
  return result;
}

bool writeFileAtomic(const std::string& path, std::string_view data, std::string* error) {
  std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f.write(data.data(), static_cast<std::streamsize>(data.size()));
    if (!f) {
      *error = "cannot write " + tmp;
      std::remove(tmp.c_str());
      return false;
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    *error = "cannot rename " + tmp + " to " + path;
    std::remove(tmp.c_str());
    return false;
  }
  return true;
}

LoadResult pack(std::string_view dir, std::string_view out_path, const LoadOptions& options,
                std::string* write_error) {
  KitSource source;
  std::string bytes;
  LoadResult result = packKit(dir, options, &source, &bytes, write_error);
  if (!result.ok() || !write_error->empty()) {
    if (write_error->rfind("a kit directory", 0) == 0)
      *write_error = "kit pack takes a kit directory";
    return result;
  }
  writeFileAtomic(std::string(out_path), bytes, write_error);
  return result;
}

}  // namespace kitgate::kit
