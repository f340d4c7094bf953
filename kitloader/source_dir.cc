// Directory kits: spec.yaml/spec.yml + files/home/** + files/workspace/**.
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <system_error>

#include "kitloader/source.h"

namespace kitgate::kit {

namespace fs = std::filesystem;

namespace {

void addError(std::vector<Diagnostic>* diags, const std::string& file, std::string message) {
  diags->push_back(Diagnostic{Severity::kError, file, 0, 0, std::move(message)});
}

bool readFileCapped(const fs::path& p, size_t cap, std::string* out) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return false;
  out->clear();
  char buf[65536];
  while (in) {
    in.read(buf, sizeof(buf));
    out->append(buf, static_cast<size_t>(in.gcount()));
    if (out->size() > cap) return true;  // caller sees size > cap
  }
  return true;
}

bool isInside(const fs::path& root, const fs::path& p) {
  auto r = root.lexically_normal().string();
  auto s = p.lexically_normal().string();
  return s == r || (s.size() > r.size() && s.compare(0, r.size(), r) == 0 && s[r.size()] == '/');
}

// A v3 kit directory has a descriptor (<stem>.yaml with schemaVersion "3").
std::string findV3Descriptor(const fs::path& dir) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (!e.is_regular_file(ec)) continue;
    auto ext = e.path().extension().string();
    if (ext != ".yaml" && ext != ".yml") continue;
    std::string text;
    if (!readFileCapped(e.path(), 1 << 16, &text)) continue;
    if (text.find("# syntax=docker/sandbox-kit:3") != std::string::npos ||
        text.find("schemaVersion: \"3\"") != std::string::npos ||
        text.find("schemaVersion: '3'") != std::string::npos) {
      return e.path().filename().string();
    }
  }
  return "";
}

}  // namespace

bool readDirectorySource(const std::string& dir, RefKind kind, KitSource* out,
                         std::vector<Diagnostic>* diags) {
  out->kind = kind;
  std::error_code ec;
  fs::path root = fs::canonical(dir, ec);
  if (ec || !fs::is_directory(root, ec)) {
    addError(diags, dir, "kit directory " + dir + " does not exist or is not a directory");
    return false;
  }
  out->directory = root.string();
  // spec.yaml, else spec.yml.
  fs::path spec;
  for (const char* name : {"spec.yaml", "spec.yml"}) {
    fs::path candidate = root / name;
    if (fs::exists(candidate, ec)) {
      spec = candidate;
      out->spec_name = name;
      break;
    }
  }
  if (spec.empty()) {
    std::string v3 = findV3Descriptor(root);
    std::string msg = "artifact: spec.yaml (or spec.yml) is required: " + dir + " has neither";
    if (!v3.empty()) {
      msg +=
          "; " + v3 +
          " is a schemaVersion \"3\" kit descriptor — v3 kits are OCI images built by BuildKit and "
          "kitgate does not load them; use the kit's schemaVersion \"1\" or \"2\" spec.yaml";
    }
    addError(diags, dir, msg);
    return false;
  }
  fs::path real_spec = fs::canonical(spec, ec);
  if (ec || !isInside(root, real_spec)) {
    addError(diags, out->spec_name,
             "file " + out->spec_name +
                 " is a symlink that escapes the artifact directory (resolves to " +
                 (ec ? std::string("nothing") : real_spec.string()) + ")");
    return false;
  }
  if (!fs::is_regular_file(real_spec, ec)) {
    addError(diags, out->spec_name, out->spec_name + " is not a regular file");
    return false;
  }
  if (!readFileCapped(real_spec, kMaxSpecBytes, &out->spec_bytes)) {
    addError(diags, out->spec_name, "cannot read " + out->spec_name);
    return false;
  }
  out->has_spec = true;

  bool ok = true;
  size_t total = 0;
  fs::path files_dir = root / "files";
  if (!fs::is_directory(files_dir, ec)) return true;
  for (const auto& top : fs::directory_iterator(files_dir, ec)) {
    std::string name = top.path().filename().string();
    if (name != "home" && name != "workspace") {
      diags->push_back(
          Diagnostic{Severity::kWarning, "files/" + name, 0, 0,
                     "files/" + name +
                         " is ignored: only files/home/** and files/workspace/** are copied "
                         "into the sandbox"});
    }
  }
  for (const char* target_name : {"home", "workspace"}) {
    fs::path base = files_dir / target_name;
    if (!fs::exists(base, ec)) continue;
    fs::path real_base = fs::canonical(base, ec);
    if (ec || !isInside(root, real_base)) {
      addError(diags, std::string("files/") + target_name,
               std::string("file files/") + target_name +
                   " is a symlink that escapes the artifact directory (resolves to " +
                   (ec ? std::string("nothing") : real_base.string()) + ")");
      ok = false;
      continue;
    }
    std::vector<fs::path> entries;
    for (auto it = fs::recursive_directory_iterator(base, fs::directory_options::none, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (entries.size() >= kMaxFiles) break;
      if (it->is_directory(ec) && !it->is_symlink(ec)) continue;
      entries.push_back(it->path());
    }
    std::sort(entries.begin(), entries.end());
    for (const fs::path& p : entries) {
      std::string rel = p.lexically_relative(base).generic_string();
      std::string shown = std::string("files/") + target_name + "/" + rel;
      fs::path real = fs::canonical(p, ec);
      if (ec || !isInside(root, real)) {
        addError(diags, shown,
                 "file " + shown +
                     " is a symlink that escapes the artifact directory (resolves to " +
                     (ec ? fs::read_symlink(p, ec).string() : real.string()) + ")");
        ok = false;
        continue;
      }
      if (!fs::is_regular_file(real, ec)) {
        diags->push_back(Diagnostic{
            Severity::kWarning, shown, 0, 0,
            shown + " is not a regular file (symlinked directory, device or socket); ignored"});
        continue;
      }
      if (out->files.size() >= kMaxFiles) {
        addError(diags, shown, "files/ holds more than " + std::to_string(kMaxFiles) + " files");
        return false;
      }
      KitFile f;
      f.target = std::string(target_name) == "home" ? FileTarget::kHome : FileTarget::kWorkspace;
      f.relative_path = rel;
      struct stat st {};
      f.mode = (::stat(real.c_str(), &st) == 0 && (st.st_mode & 07777) != 0) ? (st.st_mode & 0777)
                                                                             : 0644;
      if (!readFileCapped(real, kMaxFileBytes, &f.content)) {
        addError(diags, shown, "cannot read " + shown);
        ok = false;
        continue;
      }
      if (f.content.size() > kMaxFileBytes) {
        addError(diags, shown,
                 shown + " is larger than " + std::to_string(kMaxFileBytes >> 20) + " MiB");
        ok = false;
        continue;
      }
      total += f.content.size();
      if (total > kMaxTotalBytes) {
        addError(diags, shown,
                 "files/ is larger than " + std::to_string(kMaxTotalBytes >> 20) + " MiB in total");
        return false;
      }
      out->files.push_back(std::move(f));
    }
  }
  return ok;
}

}  // namespace kitgate::kit
