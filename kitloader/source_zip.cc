// ZIP kits, read in memory with libarchive (never extracted to disk).
#include <archive.h>
#include <archive_entry.h>

#include <algorithm>
#include <map>
#include <memory>

#include "kitloader/source.h"

namespace kitgate::kit {

namespace {

struct ArchiveDeleter {
  void operator()(archive* a) const { archive_read_free(a); }
};

struct Entry {
  std::string content;
  uint32_t mode = 0644;
};

void addError(std::vector<Diagnostic>* diags, const std::string& file, std::string message) {
  diags->push_back(Diagnostic{Severity::kError, file, 0, 0, std::move(message)});
}

// Refuses absolute paths, drive letters, backslashes and `..` components.
bool safeEntryPath(const std::string& p) {
  if (p.empty() || p[0] == '/' || p.find('\\') != std::string::npos) return false;
  if (p.size() >= 2 && p[1] == ':') return false;
  size_t start = 0;
  while (start <= p.size()) {
    size_t end = p.find('/', start);
    if (end == std::string::npos) end = p.size();
    if (p.compare(start, end - start, "..") == 0 && end - start == 2) return false;
    start = end + 1;
  }
  return true;
}

}  // namespace

namespace {

// Reads an opened ZIP; `path` names it in messages.
bool readZipArchive(archive* ar, const std::string& path, KitSource* out,
                    std::vector<Diagnostic>* diags);

}  // namespace

bool readZipSource(const std::string& path, KitSource* out, std::vector<Diagnostic>* diags) {
  out->kind = RefKind::kZip;
  std::unique_ptr<archive, ArchiveDeleter> a(archive_read_new());
  archive_read_support_format_zip(a.get());
  if (archive_read_open_filename(a.get(), path.c_str(), 65536) != ARCHIVE_OK) {
    addError(diags, path, "cannot open ZIP " + path + ": " + archive_error_string(a.get()));
    return false;
  }
  return readZipArchive(a.get(), path, out, diags);
}

bool readZipBytes(std::string_view bytes, const std::string& label, KitSource* out,
                  std::vector<Diagnostic>* diags) {
  std::unique_ptr<archive, ArchiveDeleter> a(archive_read_new());
  archive_read_support_format_zip(a.get());
  if (archive_read_open_memory(a.get(), bytes.data(), bytes.size()) != ARCHIVE_OK) {
    addError(diags, label, "cannot open ZIP " + label + ": " + archive_error_string(a.get()));
    return false;
  }
  return readZipArchive(a.get(), label, out, diags);
}

namespace {

bool readZipArchive(archive* ar, const std::string& path, KitSource* out,
                    std::vector<Diagnostic>* diags) {
  struct NoFree {
    void operator()(archive*) const {}
  };
  std::unique_ptr<archive, NoFree> a(ar);
  std::map<std::string, Entry> entries;
  bool ok = true;
  size_t total = 0;
  size_t count = 0;
  archive_entry* e = nullptr;
  int r = ARCHIVE_OK;
  while ((r = archive_read_next_header(a.get(), &e)) == ARCHIVE_OK) {
    if (++count > kMaxZipEntries) {
      addError(diags, path, "ZIP holds more than " + std::to_string(kMaxZipEntries) + " entries");
      return false;
    }
    const char* raw = archive_entry_pathname(e);
    std::string name = raw ? raw : "";
    if (!safeEntryPath(name)) {
      addError(diags, path,
               "ZIP entry " + name +
                   " has an absolute path or a '..' component (zip-slip); refusing the kit");
      ok = false;
      continue;
    }
    mode_t type = archive_entry_filetype(e);
    if (type == AE_IFDIR) continue;
    if (type != AE_IFREG) {
      addError(diags, path,
               "ZIP entry " + name +
                   " is a link or special file; a kit ZIP may hold only regular files");
      ok = false;
      continue;
    }
    if (archive_entry_size_is_set(e) &&
        static_cast<size_t>(archive_entry_size(e)) > kMaxFileBytes) {
      addError(
          diags, path,
          "ZIP entry " + name + " is larger than " + std::to_string(kMaxFileBytes >> 20) + " MiB");
      ok = false;
      continue;
    }
    Entry entry;
    entry.mode = static_cast<uint32_t>(archive_entry_perm(e)) & 0777;
    if (entry.mode == 0) entry.mode = 0644;
    char buf[65536];
    la_ssize_t n = 0;
    bool too_big = false;
    while ((n = archive_read_data(a.get(), buf, sizeof(buf))) > 0) {
      entry.content.append(buf, static_cast<size_t>(n));
      total += static_cast<size_t>(n);
      if (entry.content.size() > kMaxFileBytes || total > kMaxTotalBytes) {
        too_big = true;
        break;
      }
    }
    if (too_big) {
      addError(diags, path,
               "ZIP entry " + name + " expands beyond the size limit (" +
                   std::to_string(kMaxFileBytes >> 20) + " MiB per file, " +
                   std::to_string(kMaxTotalBytes >> 20) + " MiB in total)");
      return false;
    }
    if (n < 0) {
      addError(diags, path, "cannot read ZIP entry " + name + ": " + archive_error_string(a.get()));
      return false;
    }
    entries[name] = std::move(entry);
  }
  if (r != ARCHIVE_EOF) {
    addError(diags, path,
             std::string("cannot read ZIP ") + path + ": " + archive_error_string(a.get()));
    return false;
  }
  if (!ok) return false;

  // Layout: spec at the root, or everything under one top directory.
  std::string prefix;
  if (!entries.count("spec.yaml") && !entries.count("spec.yml")) {
    for (const auto& [name, entry] : entries) {
      size_t slash = name.find('/');
      if (slash == std::string::npos) continue;
      std::string top = name.substr(0, slash + 1);
      if (entries.count(top + "spec.yaml") || entries.count(top + "spec.yml")) {
        prefix = top;
        break;
      }
    }
  }
  for (const char* spec : {"spec.yaml", "spec.yml"}) {
    auto it = entries.find(prefix + spec);
    if (it != entries.end()) {
      out->has_spec = true;
      out->spec_name = spec;
      out->spec_bytes = it->second.content;
      break;
    }
  }
  if (!out->has_spec) {
    addError(diags, path,
             "artifact: spec.yaml (or spec.yml) is required: the ZIP " + path + " has neither");
    return false;
  }
  if (out->spec_bytes.size() > kMaxSpecBytes) out->spec_bytes.resize(kMaxSpecBytes + 1);
  for (auto& [name, entry] : entries) {
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    std::string rel = name.substr(prefix.size());
    for (auto [dir, target] : {std::pair{"files/home/", FileTarget::kHome},
                               std::pair{"files/workspace/", FileTarget::kWorkspace}}) {
      std::string d = dir;
      if (rel.compare(0, d.size(), d) == 0 && rel.size() > d.size()) {
        if (out->files.size() >= kMaxFiles) {
          addError(diags, path, "files/ holds more than " + std::to_string(kMaxFiles) + " files");
          return false;
        }
        out->files.push_back(
            KitFile{target, rel.substr(d.size()), entry.mode, std::move(entry.content)});
      }
    }
  }
  return true;
}

}  // namespace

}  // namespace kitgate::kit
