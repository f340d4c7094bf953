// Typed, strict reading of a YamlNode tree into kit fields, collecting
// diagnostics instead of stopping at the first problem (internal).
//
// Messages follow the reference loader (go-yaml): `field X not found in type
// spec.T`, `cannot unmarshal !!map into string`, so scripts that grep for
// them keep working. Single-threaded per load; owns nothing it is given.
#pragma once

#include <initializer_list>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kitloader/kit.h"
#include "kitloader/yaml_tree.h"

namespace kitgate::kit {

class DecodeContext {
 public:
  DecodeContext(std::string file, std::vector<Diagnostic>* out)
      : file_(std::move(file)), out_(out) {}

  void error(const YamlNode& at, std::string message) {
    add(Severity::kError, at.line, at.column, std::move(message));
  }
  void warn(const YamlNode& at, std::string message) {
    add(Severity::kWarning, at.line, at.column, std::move(message));
  }
  void errorAt(int line, int column, std::string message) {
    add(Severity::kError, line, column, std::move(message));
  }
  void warnAt(int line, int column, std::string message) {
    add(Severity::kWarning, line, column, std::move(message));
  }
  bool hasErrors() const;
  const std::string& file() const { return file_; }

  // Where credential inject domains were written, for the cross-checks
  // that run after the whole spec is decoded.
  struct InjectSite {
    std::string label;  // e.g. credentials[0].apiKey.inject[1]
    std::string domain;
    int line = 0;
    int column = 0;
  };
  std::vector<InjectSite> inject_sites;

 private:
  void add(Severity s, int line, int column, std::string message);
  std::string file_;
  std::vector<Diagnostic>* out_;
};

// go-yaml's name for a node's kind: !!str, !!int, !!map, !!seq, !!null ...
std::string yamlTagName(const YamlNode& n);

// A mapping read as a Go struct: unknown and duplicate keys are reported
// once (in source order) when the Fields is built.
class Fields {
 public:
  Fields(DecodeContext& ctx, const YamlNode& node, std::string_view go_type,
         std::initializer_list<std::string_view> known);
  bool valid() const { return valid_; }
  const YamlNode* get(std::string_view key) const;
  const YamlNode* key(std::string_view key) const;  // the key node itself
  const YamlNode& node() const { return node_; }

 private:
  const YamlNode& node_;
  bool valid_ = false;
};

// Readers: false (and an error) on a type mismatch; null leaves `out` empty.
bool readString(DecodeContext& ctx, const YamlNode* n, std::string* out);
bool readBool(DecodeContext& ctx, const YamlNode* n, bool* out);
bool readInt(DecodeContext& ctx, const YamlNode* n, int* out);
bool readStringList(DecodeContext& ctx, const YamlNode* n, std::vector<std::string>* out,
                    std::string_view go_type = "[]string");
bool readStringMap(DecodeContext& ctx, const YamlNode* n, std::map<std::string, std::string>* out,
                   std::string_view go_type = "map[string]string");
Value toValue(const YamlNode& n);
// Indexes of a mapping's entries in key order (deterministic iteration).
std::vector<size_t> sortedKeyOrder(const YamlNode& map);

}  // namespace kitgate::kit
