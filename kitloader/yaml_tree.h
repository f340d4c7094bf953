// YamlNode: a small owned YAML tree with source positions, built from
// yaml-cpp parse events. yaml_tree.cc is the only file that includes
// yaml-cpp; no yaml-cpp exception leaves it.
//
// Limits against hostile input: nesting depth and the number of nodes after
// alias expansion are bounded (a "billion laughs" document fails fast), and
// the bytes must be UTF-8. Pure functions, any thread.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kitgate::kit {

struct YamlNode {
  enum class Kind { kNull, kScalar, kSequence, kMap };
  Kind kind = Kind::kNull;
  int line = 0;                 // 1-based
  int column = 0;               // 1-based
  bool quoted = false;          // scalar written quoted or as a block scalar
  std::string text;             // scalar: literal text
  std::vector<YamlNode> keys;   // map: keys, parallel to items
  std::vector<YamlNode> items;  // sequence items / map values

  bool isScalar() const { return kind == Kind::kScalar; }
  bool isMap() const { return kind == Kind::kMap; }
  bool isSeq() const { return kind == Kind::kSequence; }
  bool isNull() const { return kind == Kind::kNull; }
  // Map lookup by key text; nullptr when absent or not a map.
  const YamlNode* find(std::string_view key) const;
};

struct YamlLimits {
  size_t max_depth = 64;
  size_t max_nodes = 100000;  // after alias expansion
};

struct YamlError {
  int line = 0;
  int column = 0;
  std::string message;
};

struct YamlParse {
  std::optional<YamlNode> root;  // nullopt with an error, or an empty document
  std::optional<YamlError> error;
};

YamlParse parseYaml(std::string_view text, const YamlLimits& limits = {});

// First invalid UTF-8 byte: {line, column, byte offset}; nullopt when valid.
struct Utf8Error {
  int line = 0;
  int column = 0;
  size_t offset = 0;
};
std::optional<Utf8Error> findInvalidUtf8(std::string_view text);

}  // namespace kitgate::kit
