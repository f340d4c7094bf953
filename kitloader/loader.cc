// load(): source -> bytes -> limits -> YAML tree -> args -> grammar -> Kit.
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <fstream>

#include "kitloader/args.h"
#include "kitloader/decode.h"
#include "kitloader/kit.h"
#include "kitloader/source.h"
#include "kitloader/yaml_tree.h"

namespace kitgate::kit {

std::vector<std::string> Kit::proxyManagedNames() const {
  std::vector<std::string> names;
  for (const auto& c : credentials) {
    if (c.api_key && c.api_key->proxy_managed && !c.api_key->name.empty())
      names.push_back(c.api_key->name);
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

std::string_view refKindName(RefKind kind) {
  switch (kind) {
    case RefKind::kDirectory:
      return "directory";
    case RefKind::kZip:
      return "zip";
    case RefKind::kGit:
      return "git";
    case RefKind::kOci:
      return "oci";
  }
  return "directory";
}

std::optional<KitArgValue> parseKitArg(std::string_view text) {
  size_t eq = text.find('=');
  if (eq == std::string_view::npos || eq == 0) return std::nullopt;
  KitArgValue v;
  std::string_view key = text.substr(0, eq);
  v.value = std::string(text.substr(eq + 1));
  size_t dot = key.find('.');
  if (dot != std::string_view::npos) {
    v.kit = std::string(key.substr(0, dot));
    key = key.substr(dot + 1);
  }
  if (key.empty()) return std::nullopt;
  v.name = std::string(key);
  return v;
}

bool LoadResult::ok() const { return errors().empty(); }

std::vector<std::string> LoadResult::warningMessages() const {
  std::vector<std::string> out;
  for (const auto& d : diagnostics) {
    if (d.severity == Severity::kWarning) out.push_back(d.message);
  }
  return out;
}

std::vector<const Diagnostic*> LoadResult::errors() const {
  std::vector<const Diagnostic*> out;
  for (const auto& d : diagnostics) {
    if (d.severity == Severity::kError) out.push_back(&d);
  }
  return out;
}

RefKind classifyRef(std::string_view ref) {
  if (ref.rfind("git+", 0) == 0) return RefKind::kGit;
  std::string path(ref.rfind("file://", 0) == 0 ? ref.substr(7) : ref);
  struct stat st {};
  if (path.size() > 4 && path.compare(path.size() - 4, 4, ".zip") == 0 &&
      !(::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode))) {
    return RefKind::kZip;
  }
  return RefKind::kDirectory;
}

namespace {

void sortDiagnostics(std::vector<Diagnostic>* diags) {
  // Errors first in source order, then warnings in the order found.
  std::stable_sort(diags->begin(), diags->end(), [](const Diagnostic& a, const Diagnostic& b) {
    if (a.severity != b.severity) return a.severity == Severity::kError;
    if (a.severity == Severity::kWarning) return false;
    if (a.file != b.file) return a.file == "spec.yaml" || a.file == "spec.yml";
    return std::tie(a.line, a.column) < std::tie(b.line, b.column);
  });
  diags->erase(std::unique(diags->begin(), diags->end()), diags->end());
}

std::pair<int, int> lineColumn(std::string_view text, size_t offset) {
  int line = 1;
  int col = 1;
  for (size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return {line, col};
}

std::string fileLabel(const KitFile& f) {
  return std::string(f.target == FileTarget::kHome ? "files/home/" : "files/workspace/") +
         f.relative_path;
}

void loadFromSource(KitSource source, const LoadOptions& options, LoadResult* result) {
  result->ref_kind = source.kind;
  result->spec_file = source.spec_name;
  DecodeContext ctx(source.spec_name, &result->diagnostics);
  const std::string& bytes = source.spec_bytes;
  if (bytes.size() > kMaxSpecBytes) {
    ctx.errorAt(0, 0,
                source.spec_name + " is larger than " + std::to_string(kMaxSpecBytes >> 10) +
                    " KiB; refusing to load it");
    return;
  }
  std::string_view text = bytes;
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  if (auto bad = findInvalidUtf8(text)) {
    char hex[8];
    std::snprintf(hex, sizeof(hex), "0x%02x", static_cast<unsigned char>(text[bad->offset]));
    ctx.errorAt(bad->line, bad->column,
                source.spec_name + " is not valid UTF-8: byte " + hex + " at line " +
                    std::to_string(bad->line) + ", column " + std::to_string(bad->column));
    return;
  }
  result->spec_text = std::string(text);
  YamlParse parsed = parseYaml(text);
  if (parsed.error) {
    ctx.errorAt(parsed.error->line, parsed.error->column, parsed.error->message);
    return;
  }
  if (!parsed.root || parsed.root->isNull()) {
    ctx.errorAt(1, 1, "artifact: invalid spec.yaml: the document is empty");
    return;
  }
  YamlNode& root = *parsed.root;
  const YamlNode* sv = root.find("schemaVersion");
  if (sv && sv->isScalar()) result->spec_schema = sv->text;
  if (!source.required_schema.empty() && result->spec_schema != source.required_schema) {
    ctx.errorAt(1, 1,
                "artifact: the spec of a v2 kit artifact must declare schemaVersion \"" +
                    source.required_schema + "\"");
    return;
  }

  std::map<std::string, ArgSpec> decls;
  std::map<std::string, std::string> values;
  bool v2 = result->spec_schema == "2";
  if (v2) {
    decodeArgDecls(ctx, root.find("args"), &decls);
    std::string name;
    if (const YamlNode* n = root.find("name"); n && n->isScalar()) name = n->text;
    // Missing/invalid values point at the `args:` key (or line 1 without one).
    const YamlNode* args_key = &root;
    for (const auto& k : root.keys) {
      if (k.isScalar() && k.text == "args") args_key = &k;
    }
    values = resolveArgValues(ctx, *args_key, name, decls, options.args);
    if (ctx.hasErrors()) return;  // args run first (kit-spec §2.2)
    substituteTree(ctx, &root, values);
  } else if (!options.args.empty()) {
    for (const auto& a : options.args) {
      if (a.kit.empty()) {
        ctx.errorAt(1, 1,
                    "--kit-arg " + a.name + ": only schemaVersion \"2\" kits declare arguments");
      }
    }
  }
  Kit& kit = result->kit;
  decodeSpec(ctx, root, &kit);
  kit.args = decls;

  for (KitFile& f : source.files) {
    std::string label = fileLabel(f);
    std::string_view rel = f.relative_path;
    if (rel.empty() || rel[0] == '/' || rel[0] == '\\' || rel == ".." || rel.rfind("../", 0) == 0) {
      result->diagnostics.push_back(
          Diagnostic{Severity::kError, label, 0, 0, "file " + label + " has an invalid path"});
      continue;
    }
    bool text_file = f.content.find('\0') == std::string::npos && !findInvalidUtf8(f.content);
    if (v2 && text_file && f.content.find("${{") != std::string::npos) {
      std::vector<SubstitutionProblem> problems;
      std::string replaced = substituteArgs(f.content, values, label, &problems);
      for (const auto& p : problems) {
        auto [line, col] = lineColumn(f.content, p.offset);
        result->diagnostics.push_back(Diagnostic{Severity::kError, label, line, col, p.message});
      }
      f.content = std::move(replaced);
    }
    kit.files.push_back(std::move(f));
  }
  std::sort(kit.files.begin(), kit.files.end(), [](const KitFile& a, const KitFile& b) {
    return std::tie(a.target, a.relative_path) < std::tie(b.target, b.relative_path);
  });
}

KitContent contentOf(const KitSource& source, std::string_view ref) {
  KitContent c;
  c.kind = source.kind;
  c.reference = redactReference(ref);
  c.content_digest = contentDigest(source);
  if (source.kind == RefKind::kDirectory || source.kind == RefKind::kGit) {
    c.directory = source.directory;
    std::string bundle;
    std::ifstream in(source.directory + "/" + std::string(kSignatureBundleName), std::ios::binary);
    if (in) {
      char buf[8192];
      // A bundle is a few hundred bytes; anything past 1 MiB is not one.
      while ((in.read(buf, sizeof(buf)) || in.gcount() > 0) && bundle.size() <= (1u << 20))
        bundle.append(buf, static_cast<size_t>(in.gcount()));
      c.bundle = std::move(bundle);
    }
  }
  c.oci_reference = source.oci_reference;
  c.manifest_digest = source.manifest_digest;
  c.manifest_media_type = source.manifest_media_type;
  c.manifest_size = source.manifest_size;
  return c;
}

}  // namespace

LoadResult loadSpecBytes(std::string_view bytes, const LoadOptions& options) {
  LoadResult result;
  KitSource source;
  source.has_spec = true;
  source.spec_bytes = std::string(bytes);
  loadFromSource(std::move(source), options, &result);
  sortDiagnostics(&result.diagnostics);
  return result;
}

bool readSource(std::string_view ref, RefKind kind, const LoadOptions& options, KitSource* out,
                std::vector<Diagnostic>* diags) {
  std::string path(ref.rfind("file://", 0) == 0 ? ref.substr(7) : ref);
  switch (kind) {
    case RefKind::kDirectory:
      return readDirectorySource(path, kind, out, diags);
    case RefKind::kZip:
      return readZipSource(path, out, diags);
    case RefKind::kGit:
      return readGitSource(ref, options, out, diags);
    case RefKind::kOci:
      return readOciSource(ref, options, out, diags);
  }
  return false;
}

LoadResult load(std::string_view ref, const LoadOptions& options) {
  LoadResult result;
  KitSource source;
  RefKind kind = isOciReference(ref) ? RefKind::kOci : classifyRef(ref);
  result.ref_kind = kind;
  // A git URL carrying user:password@ is refused by its reader before any
  // fetch, with its own message; the policy judges every other reference.
  if (options.source_policy && redactReference(ref) == ref) {
    if (std::string problem = sourcePolicyProblem(ref, *options.source_policy); !problem.empty()) {
      result.diagnostics.push_back(
          Diagnostic{Severity::kError, redactReference(ref), 0, 0, problem});
      return result;
    }
  }
  bool ok = readSource(ref, kind, options, &source, &result.diagnostics);
  if (!ok || !source.has_spec) {
    sortDiagnostics(&result.diagnostics);
    return result;
  }
  if (options.check_signature) {
    KitContent content = contentOf(source, ref);
    if (std::string problem = options.check_signature(content); !problem.empty()) {
      result.diagnostics.push_back(
          Diagnostic{options.signature_severity, redactReference(ref), 0, 0, problem});
      if (options.signature_severity == Severity::kError) return result;
    }
  }
  loadFromSource(std::move(source), options, &result);
  sortDiagnostics(&result.diagnostics);
  return result;
}

bool readKitContent(std::string_view ref, const LoadOptions& options, KitContent* out,
                    std::string* error) {
  KitSource source;
  RefKind kind = isOciReference(ref) ? RefKind::kOci : classifyRef(ref);
  std::vector<Diagnostic> diags;
  bool ok = readSource(ref, kind, options, &source, &diags);
  if (!ok || !source.has_spec) {
    error->clear();
    for (const Diagnostic& d : diags) {
      if (d.severity != Severity::kError) continue;
      *error += (error->empty() ? "" : "; ") + d.message;
    }
    if (error->empty()) *error = "cannot read kit " + redactReference(ref);
    return false;
  }
  *out = contentOf(source, ref);
  return true;
}

std::string renderDiagnostic(const Diagnostic& d, std::string_view source, bool color) {
  const char* bold = color ? "\033[1m" : "";
  const char* red = color ? "\033[1;31m" : "";
  const char* magenta = color ? "\033[1;35m" : "";
  const char* green = color ? "\033[1;32m" : "";
  const char* reset = color ? "\033[0m" : "";
  std::string out = bold + d.file;
  if (d.line > 0) {
    out += ":" + std::to_string(d.line);
    if (d.column > 0) out += ":" + std::to_string(d.column);
  }
  out += std::string(":") + reset + " ";
  out += d.severity == Severity::kError ? std::string(red) + "error:"
                                        : std::string(magenta) + "warning:";
  out += std::string(reset) + " " + d.message + "\n";
  if (d.line > 0 && !source.empty()) {
    size_t start = 0;
    for (int l = 1; l < d.line && start != std::string_view::npos; ++l) {
      start = source.find('\n', start);
      if (start != std::string_view::npos) ++start;
    }
    if (start != std::string_view::npos && start <= source.size()) {
      size_t end = source.find('\n', start);
      std::string_view line = source.substr(
          start, end == std::string_view::npos ? std::string_view::npos : end - start);
      out += "  " + std::string(line) + "\n";
      if (d.column > 0) {
        std::string pad;
        // Keep tabs so the caret lines up with the source line.
        for (size_t i = 0; i + 1 < static_cast<size_t>(d.column) && i < line.size(); ++i)
          pad += line[i] == '\t' ? '\t' : ' ';
        out += "  " + pad + green + "^" + reset + "\n";
      }
    }
  }
  return out;
}

}  // namespace kitgate::kit
