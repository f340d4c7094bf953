// OCI kits (kit-spec §6.1, §6.3): pull (manifest and every blob verified by
// digest, v1 ZIP layer or v2 spec config + tar+gzip layer), push, and the
// reproducible v2 layer. The HTTP API and registry auth live in oci/.
#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <nlohmann/json.hpp>

#include "kitloader/kit.h"
#include "kitloader/oci/client.h"
#include "kitloader/oci/sha256.h"
#include "kitloader/source.h"

namespace kitgate::kit {

namespace {

using nlohmann::json;

constexpr std::string_view kManifestType = "application/vnd.oci.image.manifest.v1+json";
constexpr std::string_view kEmptyConfigType = "application/vnd.oci.empty.v1+json";
constexpr std::string_view kV1LayerType = "application/vnd.docker.sandbox.kit.v1.content.zip";
constexpr std::string_view kV2ArtifactType = "application/vnd.docker.sandbox.kit.v2";
constexpr std::string_view kV2ConfigType = "application/vnd.docker.sandbox.kit.v2.spec+yaml";
constexpr std::string_view kV2LayerType = "application/vnd.oci.image.layer.v1.tar+gzip";
constexpr std::string_view kHomePrefix = "home/agent/";
constexpr std::string_view kWorkspacePrefix = "workspace/";

void addError(std::vector<Diagnostic>* diags, const std::string& file, std::string message) {
  diags->push_back(Diagnostic{Severity::kError, file, 0, 0, std::move(message)});
}

struct ArchiveReadDeleter {
  void operator()(archive* a) const { archive_read_free(a); }
};
struct ArchiveWriteDeleter {
  void operator()(archive* a) const { archive_write_free(a); }
};

// Relative, normalised: no leading '/', no empty, '.' or '..' component.
bool normalisedPath(std::string_view p) {
  if (p.empty() || p.front() == '/') return false;
  size_t start = 0;
  while (start <= p.size()) {
    size_t end = p.find('/', start);
    if (end == std::string_view::npos) end = p.size();
    std::string_view part = p.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") return false;
    start = end + 1;
  }
  return true;
}

// The v2 layer -> files/ (home/agent/<rel> -> home, workspace/<rel> -> workspace).
bool readV2Layer(std::string_view bytes, const std::string& label, KitSource* out,
                 std::vector<Diagnostic>* diags) {
  std::unique_ptr<archive, ArchiveReadDeleter> a(archive_read_new());
  archive_read_support_filter_gzip(a.get());
  archive_read_support_format_tar(a.get());
  if (archive_read_open_memory(a.get(), bytes.data(), bytes.size()) != ARCHIVE_OK) {
    addError(diags, label, "the kit layer of " + label + " is not a tar+gzip archive");
    return false;
  }
  archive_entry* e = nullptr;
  int r = ARCHIVE_OK;
  size_t total = 0;
  while ((r = archive_read_next_header(a.get(), &e)) == ARCHIVE_OK) {
    const char* raw = archive_entry_pathname(e);
    std::string name = raw ? raw : "";
    bool dir = archive_entry_filetype(e) == AE_IFDIR;
    if (dir && !name.empty() && name.back() == '/') name.pop_back();
    if (!normalisedPath(name)) {
      addError(diags, label, "kit layer entry \"" + name + "\" is not a relative, normalised path");
      return false;
    }
    if (dir) continue;
    if (archive_entry_filetype(e) != AE_IFREG) {
      addError(
          diags, label,
          "kit layer entry " + name + " is a link or special file; only regular files allowed");
      return false;
    }
    FileTarget target = FileTarget::kHome;
    std::string rel;
    if (name.rfind(kHomePrefix, 0) == 0 && name.size() > kHomePrefix.size()) {
      rel = name.substr(kHomePrefix.size());
    } else if (name.rfind(kWorkspacePrefix, 0) == 0 && name.size() > kWorkspacePrefix.size()) {
      target = FileTarget::kWorkspace;
      rel = name.substr(kWorkspacePrefix.size());
    } else {
      addError(diags, label, "kit layer entry " + name + " is outside home/agent/ and workspace/");
      return false;
    }
    if (out->files.size() >= kMaxFiles) {
      addError(diags, label,
               "the kit layer holds more than " + std::to_string(kMaxFiles) + " files");
      return false;
    }
    uint32_t mode = static_cast<uint32_t>(archive_entry_perm(e)) & 0777;
    KitFile f{target, rel, mode == 0 ? 0644u : mode, {}};
    char buf[65536];
    la_ssize_t n = 0;
    while ((n = archive_read_data(a.get(), buf, sizeof(buf))) > 0) {
      f.content.append(buf, static_cast<size_t>(n));
      total += static_cast<size_t>(n);
      if (f.content.size() > kMaxFileBytes || total > kMaxTotalBytes) {
        addError(diags, label,
                 "kit layer entry " + name + " expands beyond the size limit (" +
                     std::to_string(kMaxFileBytes >> 20) + " MiB per file, " +
                     std::to_string(kMaxTotalBytes >> 20) + " MiB in total)");
        return false;
      }
    }
    if (n < 0) {
      addError(diags, label,
               "cannot read kit layer entry " + name + ": " + archive_error_string(a.get()));
      return false;
    }
    out->files.push_back(std::move(f));
  }
  if (r != ARCHIVE_EOF) {
    addError(diags, label,
             std::string("cannot read the kit layer of ") + label + ": " +
                 archive_error_string(a.get()));
    return false;
  }
  return true;
}

struct Pulled {
  std::string format;  // "v1" | "v2"
  std::string config;  // v2: spec.yaml bytes
  std::string layer;
  std::string manifest_digest;
  std::string manifest_media_type;
  size_t manifest_size = 0;
};

bool pullArtifact(const oci::Reference& ref, const LoadOptions& options, Pulled* out,
                  std::string* error) {
  oci::Client client(ref, ociClientOptions(options));
  oci::Manifest m;
  if (!client.getManifest(&m, error)) return false;
  out->manifest_digest = m.digest;
  out->manifest_media_type = m.media_type.empty() ? std::string(kManifestType) : m.media_type;
  out->manifest_size = m.bytes.size();
  json j = json::parse(m.bytes, nullptr, false);
  if (!j.is_object() || !j.contains("config") || !j["config"].is_object() ||
      !j.contains("layers") || !j["layers"].is_array()) {
    *error = ref.str() + " is not an OCI image manifest (an index or a Docker v1 manifest?)";
    return false;
  }
  std::string artifact_type = j.value("artifactType", "");
  const json& config = j["config"];
  std::string config_type = config.value("mediaType", "");
  std::vector<const json*> v1_layers;
  std::vector<const json*> v2_layers;
  for (const json& l : j["layers"]) {
    if (!l.is_object()) continue;
    std::string t = l.value("mediaType", "");
    if (t == kV1LayerType) v1_layers.push_back(&l);
    if (t == kV2LayerType) v2_layers.push_back(&l);
  }
  auto digestOf = [](const json& d) {
    return d.contains("digest") && d["digest"].is_string() ? d["digest"].get<std::string>() : "";
  };
  if (artifact_type == kV2ArtifactType || config_type == kV2ConfigType) {
    out->format = "v2";
    if (v2_layers.size() != 1) {
      *error = ref.str() + " is a v2 kit with " + std::to_string(v2_layers.size()) +
               " tar+gzip layers; exactly one is required";
      return false;
    }
    if (!client.getBlob(digestOf(config), &out->config, error)) return false;
    return client.getBlob(digestOf(*v2_layers[0]), &out->layer, error);
  }
  if (!v1_layers.empty()) {
    out->format = "v1";
    if (v1_layers.size() != 1) {
      *error = ref.str() + " has " + std::to_string(v1_layers.size()) +
               " kit ZIP layers; exactly one is required";
      return false;
    }
    return client.getBlob(digestOf(*v1_layers[0]), &out->layer, error);
  }
  *error = ref.str() + " is not a kit (no " + std::string(kV2ArtifactType) + " artifact type, no " +
           std::string(kV1LayerType) + " layer) — an image?";
  return false;
}

std::string createdTimestamp() {
  std::time_t t = std::time(nullptr);
  if (const char* e = std::getenv("SOURCE_DATE_EPOCH"); e && *e) t = std::strtoll(e, nullptr, 10);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

json descriptor(std::string_view media_type, std::string_view data) {
  return json{
      {"mediaType", media_type}, {"digest", oci::sha256Digest(data)}, {"size", data.size()}};
}

la_ssize_t appendToString(archive*, void* user, const void* buf, size_t n) {
  static_cast<std::string*>(user)->append(static_cast<const char*>(buf), n);
  return static_cast<la_ssize_t>(n);
}

}  // namespace

oci::ClientOptions ociClientOptions(const LoadOptions& options) {
  oci::ClientOptions o = oci::clientOptionsFromEnv();
  o.registry_auth_file = options.registry_auth_file;
  o.insecure_registries.insert(o.insecure_registries.end(), options.insecure_registries.begin(),
                               options.insecure_registries.end());
  return o;
}

bool isOciReference(std::string_view ref) {
  if (ref.rfind("oci://", 0) == 0) return true;
  if (ref.empty() || ref[0] == '.' || ref[0] == '/' || ref.rfind("file://", 0) == 0 ||
      ref.rfind("git+", 0) == 0) {
    return false;
  }
  struct stat st {};
  if (::stat(std::string(ref).c_str(), &st) == 0) return false;
  // registry/repo[:tag|@digest], or a Docker Hub `org/repo[:tag]` (a
  // relative path must start with ./ or ../, kit-spec §6.1).
  if (ref.find('@') != std::string_view::npos) return true;
  if (ref.size() > 4 && ref.substr(ref.size() - 4) == ".zip") return false;
  return ref.find('/') != std::string_view::npos;
}

std::string buildV2Layer(const std::vector<KitFile>& files) {
  std::vector<const KitFile*> sorted;
  for (const auto& f : files) sorted.push_back(&f);
  auto path = [](const KitFile& f) {
    return std::string(f.target == FileTarget::kHome ? kHomePrefix : kWorkspacePrefix) +
           f.relative_path;
  };
  std::sort(sorted.begin(), sorted.end(),
            [&](const KitFile* a, const KitFile* b) { return path(*a) < path(*b); });
  std::string out;
  std::unique_ptr<archive, ArchiveWriteDeleter> a(archive_write_new());
  archive_write_set_format_pax_restricted(a.get());
  archive_write_add_filter_gzip(a.get());
  archive_write_set_options(a.get(), "gzip:!timestamp");
  archive_write_set_bytes_in_last_block(a.get(), 1);
  archive_write_open(a.get(), &out, nullptr, appendToString, nullptr);
  for (const KitFile* f : sorted) {
    std::unique_ptr<archive_entry, void (*)(archive_entry*)> e(archive_entry_new(),
                                                               archive_entry_free);
    std::string p = path(*f);
    archive_entry_set_pathname(e.get(), p.c_str());
    archive_entry_set_filetype(e.get(), AE_IFREG);
    // 0644, or 0755 for a file its author made executable (still reproducible).
    archive_entry_set_perm(e.get(), (f->mode & 0111) ? 0755 : 0644);
    archive_entry_set_uid(e.get(), 1000);
    archive_entry_set_gid(e.get(), 1000);
    archive_entry_set_mtime(e.get(), 0, 0);
    archive_entry_set_size(e.get(), static_cast<la_int64_t>(f->content.size()));
    archive_write_header(a.get(), e.get());
    archive_write_data(a.get(), f->content.data(), f->content.size());
  }
  archive_write_close(a.get());
  return out;
}

bool readOciSource(std::string_view ref_text, const LoadOptions& options, KitSource* out,
                   std::vector<Diagnostic>* diags) {
  out->kind = RefKind::kOci;
  std::string label = redactReference(ref_text);
  std::string error;
  auto ref = oci::parseReference(ref_text, &error);
  if (!ref) {
    addError(diags, label, error);
    return false;
  }
  Pulled pulled;
  if (!pullArtifact(*ref, options, &pulled, &error)) {
    addError(diags, label, error);
    return false;
  }
  out->oci_reference = ref->str();
  out->manifest_digest = pulled.manifest_digest;
  out->manifest_media_type = pulled.manifest_media_type;
  out->manifest_size = pulled.manifest_size;
  if (pulled.format == "v1") {
    bool ok = readZipBytes(pulled.layer, label, out, diags);
    out->kind = RefKind::kOci;
    return ok;
  }
  out->has_spec = true;
  out->spec_name = "spec.yaml";
  out->spec_bytes = std::move(pulled.config);
  out->required_schema = "2";
  return readV2Layer(pulled.layer, label, out, diags);
}

PullResult pull(std::string_view ref_text, const LoadOptions& options) {
  PullResult result;
  auto ref = oci::parseReference(ref_text, &result.error);
  if (!ref) return result;
  if (std::string p =
          options.source_policy ? sourcePolicyProblem(ref_text, *options.source_policy) : "";
      !p.empty()) {
    result.error = p;
    return result;
  }
  Pulled pulled;
  if (!pullArtifact(*ref, options, &pulled, &result.error)) return result;
  result.format = pulled.format;
  result.extension = pulled.format == "v1" ? ".zip" : ".tar.gz";
  result.payload = std::move(pulled.layer);
  result.manifest_digest = pulled.manifest_digest;
  size_t slash = ref->repository.rfind('/');
  result.repository =
      slash == std::string::npos ? ref->repository : ref->repository.substr(slash + 1);
  return result;
}

PushResult push(std::string_view dir, std::string_view target, const LoadOptions& options) {
  PushResult result;
  auto ref = oci::parseReference(target, &result.error);
  if (!ref) return result;
  if (!ref->digest.empty()) {
    result.error = "kit push needs a tag (REGISTRY/REPO:TAG), not a digest";
    return result;
  }
  KitSource raw;
  std::string zip;
  result.load = packKit(dir, options, &raw, &zip, &result.error);
  if (!result.load.ok()) {
    result.error = "the kit has errors; nothing was pushed";
    return result;
  }
  if (!result.error.empty()) return result;
  const Kit& kit = result.load.kit;
  bool v2 = result.load.spec_schema == "2";
  result.format = v2 ? "v2" : "v1";
  std::string config = v2 ? raw.spec_bytes : std::string("{}");
  std::string layer = v2 ? buildV2Layer(raw.files) : zip;
  json annotations = {
      {"vnd.docker.sandbox.kit.name", kit.name},
      {"vnd.docker.sandbox.kit.kind", kit.kind == KitKind::kMixin ? "mixin" : "sandbox"},
      {"org.opencontainers.image.title", kit.display_name.empty() ? kit.name : kit.display_name},
      {"org.opencontainers.image.created", createdTimestamp()}};
  if (!kit.version.empty()) annotations["vnd.docker.sandbox.kit.version"] = kit.version;
  if (!kit.description.empty())
    annotations["org.opencontainers.image.description"] = kit.description;
  if (!kit.source_url.empty()) annotations["org.opencontainers.image.source"] = kit.source_url;
  json manifest = {{"schemaVersion", 2},
                   {"mediaType", kManifestType},
                   {"config", descriptor(v2 ? kV2ConfigType : kEmptyConfigType, config)},
                   {"layers", json::array({descriptor(v2 ? kV2LayerType : kV1LayerType, layer)})},
                   {"annotations", annotations}};
  if (v2) manifest["artifactType"] = kV2ArtifactType;
  std::string manifest_bytes = manifest.dump();
  oci::Client client(*ref, ociClientOptions(options));
  if (!client.pushBlob(config, oci::sha256Digest(config), &result.error) ||
      !client.pushBlob(layer, oci::sha256Digest(layer), &result.error) ||
      !client.putManifest(manifest_bytes, std::string(kManifestType), &result.error)) {
    return result;
  }
  result.reference = ref->str();
  result.manifest_digest = oci::sha256Digest(manifest_bytes);
  return result;
}

}  // namespace kitgate::kit
