#include "kitloader/decode_util.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>

namespace kitgate::kit {

void DecodeContext::add(Severity s, int line, int column, std::string message) {
  out_->push_back(Diagnostic{s, file_, line, column, std::move(message)});
}

bool DecodeContext::hasErrors() const {
  return std::any_of(out_->begin(), out_->end(),
                     [](const Diagnostic& d) { return d.severity == Severity::kError; });
}

namespace {

bool looksInt(std::string_view t) {
  size_t i = (!t.empty() && (t[0] == '-' || t[0] == '+')) ? 1 : 0;
  if (i >= t.size()) return false;
  if (t.substr(i, 2) == "0x" || t.substr(i, 2) == "0o") {
    i += 2;
    if (i >= t.size()) return false;
    for (; i < t.size(); ++i) {
      if (!std::isxdigit(static_cast<unsigned char>(t[i]))) return false;
    }
    return true;
  }
  for (; i < t.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(t[i])) && t[i] != '_') return false;
  }
  return true;
}

bool looksFloat(std::string_view t) {
  if (t == ".inf" || t == "-.inf" || t == "+.inf" || t == ".nan" || t == ".Inf" || t == ".NaN")
    return true;
  bool digit = false;
  size_t i = (!t.empty() && (t[0] == '-' || t[0] == '+')) ? 1 : 0;
  for (; i < t.size(); ++i) {
    char c = t[i];
    if (std::isdigit(static_cast<unsigned char>(c))) {
      digit = true;
    } else if (c != '.' && c != 'e' && c != 'E' && c != '-' && c != '+' && c != '_') {
      return false;
    }
  }
  return digit;
}

bool isBoolText(std::string_view t) {
  return t == "true" || t == "false" || t == "True" || t == "False" || t == "TRUE" || t == "FALSE";
}

}  // namespace

std::string yamlTagName(const YamlNode& n) {
  switch (n.kind) {
    case YamlNode::Kind::kNull:
      return "!!null";
    case YamlNode::Kind::kMap:
      return "!!map";
    case YamlNode::Kind::kSequence:
      return "!!seq";
    case YamlNode::Kind::kScalar:
      if (n.quoted) return "!!str";
      if (isBoolText(n.text)) return "!!bool";
      if (looksInt(n.text)) return "!!int";
      if (looksFloat(n.text)) return "!!float";
      return "!!str";
  }
  return "!!str";
}

static std::string describe(const YamlNode& n) {
  std::string tag = yamlTagName(n);
  if (n.kind == YamlNode::Kind::kScalar) return tag + " `" + n.text + "`";
  return tag;
}

Fields::Fields(DecodeContext& ctx, const YamlNode& node, std::string_view go_type,
               std::initializer_list<std::string_view> known)
    : node_(node) {
  if (node.isNull()) {
    valid_ = false;
    return;
  }
  if (!node.isMap()) {
    ctx.error(node, "cannot unmarshal " + describe(node) + " into spec." + std::string(go_type));
    return;
  }
  valid_ = true;
  for (size_t i = 0; i < node.keys.size(); ++i) {
    const YamlNode& k = node.keys[i];
    if (!k.isScalar()) {
      ctx.error(k, "mapping keys must be strings, not " + yamlTagName(k) + " (in type spec." +
                       std::string(go_type) + ")");
      continue;
    }
    for (size_t j = 0; j < i; ++j) {
      if (node.keys[j].isScalar() && node.keys[j].text == k.text) {
        ctx.error(k, "mapping key \"" + k.text + "\" already defined at line " +
                         std::to_string(node.keys[j].line));
        break;
      }
    }
    if (std::find(known.begin(), known.end(), k.text) == known.end()) {
      ctx.error(k, "field " + k.text + " not found in type spec." + std::string(go_type));
    }
  }
}

const YamlNode* Fields::get(std::string_view key) const {
  return valid_ ? node_.find(key) : nullptr;
}

const YamlNode* Fields::key(std::string_view key) const {
  if (!valid_) return nullptr;
  for (const auto& k : node_.keys) {
    if (k.isScalar() && k.text == key) return &k;
  }
  return nullptr;
}

bool readString(DecodeContext& ctx, const YamlNode* n, std::string* out) {
  if (!n || n->isNull()) return true;
  if (!n->isScalar()) {
    ctx.error(*n, "cannot unmarshal " + yamlTagName(*n) + " into string");
    return false;
  }
  *out = n->text;
  return true;
}

bool readBool(DecodeContext& ctx, const YamlNode* n, bool* out) {
  if (!n || n->isNull()) return true;
  if (n->isScalar() && !n->quoted && isBoolText(n->text)) {
    *out = n->text[0] == 't' || n->text[0] == 'T';
    return true;
  }
  ctx.error(*n, "cannot unmarshal " + describe(*n) + " into bool");
  return false;
}

bool readInt(DecodeContext& ctx, const YamlNode* n, int* out) {
  if (!n || n->isNull()) return true;
  if (n->isScalar() && !n->quoted && looksInt(n->text)) {
    std::string digits;
    for (char c : n->text) {
      if (c != '_') digits += c;
    }
    int base = 10;
    size_t skip = 0;
    bool neg = !digits.empty() && digits[0] == '-';
    if (!digits.empty() && (digits[0] == '-' || digits[0] == '+')) skip = 1;
    if (digits.compare(skip, 2, "0x") == 0) {
      base = 16;
      skip += 2;
    } else if (digits.compare(skip, 2, "0o") == 0) {
      base = 8;
      skip += 2;
    }
    errno = 0;
    char* end = nullptr;
    long long v = std::strtoll(digits.c_str() + skip, &end, base);
    if (errno == 0 && v <= 2147483647LL) {
      *out = static_cast<int>(neg ? -v : v);
      return true;
    }
  }
  ctx.error(*n, "cannot unmarshal " + describe(*n) + " into int");
  return false;
}

bool readStringList(DecodeContext& ctx, const YamlNode* n, std::vector<std::string>* out,
                    std::string_view go_type) {
  if (!n || n->isNull()) return true;
  if (!n->isSeq()) {
    ctx.error(*n, "cannot unmarshal " + describe(*n) + " into " + std::string(go_type));
    return false;
  }
  bool ok = true;
  for (const auto& item : n->items) {
    std::string s;
    ok = readString(ctx, &item, &s) && ok;
    out->push_back(std::move(s));
  }
  return ok;
}

bool readStringMap(DecodeContext& ctx, const YamlNode* n, std::map<std::string, std::string>* out,
                   std::string_view go_type) {
  if (!n || n->isNull()) return true;
  if (!n->isMap()) {
    ctx.error(*n, "cannot unmarshal " + describe(*n) + " into " + std::string(go_type));
    return false;
  }
  bool ok = true;
  for (size_t i = 0; i < n->keys.size(); ++i) {
    std::string k;
    std::string v;
    ok = readString(ctx, &n->keys[i], &k) && ok;
    ok = readString(ctx, &n->items[i], &v) && ok;
    if (out->count(k)) {
      ctx.error(n->keys[i], "mapping key \"" + k + "\" already defined");
      ok = false;
    }
    (*out)[k] = std::move(v);
  }
  return ok;
}

std::vector<size_t> sortedKeyOrder(const YamlNode& map) {
  std::vector<size_t> order(map.keys.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return map.keys[a].text < map.keys[b].text; });
  return order;
}

Value toValue(const YamlNode& n) {
  Value v;
  switch (n.kind) {
    case YamlNode::Kind::kNull:
      v.kind = Value::Kind::kNull;
      break;
    case YamlNode::Kind::kScalar:
      v.kind = Value::Kind::kScalar;
      v.scalar = n.text;
      break;
    case YamlNode::Kind::kSequence:
      v.kind = Value::Kind::kSequence;
      for (const auto& i : n.items) v.items.push_back(toValue(i));
      break;
    case YamlNode::Kind::kMap: {
      v.kind = Value::Kind::kMap;
      for (size_t i : sortedKeyOrder(n)) {
        v.keys.push_back(n.keys[i].text);
        v.items.push_back(toValue(n.items[i]));
      }
      break;
    }
  }
  return v;
}

}  // namespace kitgate::kit
