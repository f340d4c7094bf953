#include "kitloader/args.h"

#include <re2/re2.h>

#include <algorithm>

#include "kitloader/checks.h"

namespace kitgate::kit {

namespace {

std::string quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

std::string argLabel(const std::string& name) { return "args[" + quote(name) + "]"; }

// Checks a value against enum/pattern; returns the problem text or "".
std::string valueProblem(const std::string& name, const ArgSpec& spec, const std::string& value,
                         std::string_view what) {
  if (!spec.enum_values.empty() && std::find(spec.enum_values.begin(), spec.enum_values.end(),
                                             value) == spec.enum_values.end()) {
    std::string list;
    for (const auto& e : spec.enum_values) list += (list.empty() ? "" : ", ") + quote(e);
    return argLabel(name) + std::string(what) + ": " + quote(value) + " is not one of " + list;
  }
  if (!spec.pattern.empty()) {
    RE2 re("\\A(?:" + spec.pattern + ")\\z", RE2::Quiet);
    if (re.ok() && !RE2::FullMatch(value, re)) {
      return argLabel(name) + std::string(what) + ": " + quote(value) + " does not match pattern " +
             quote(spec.pattern);
    }
  }
  return "";
}

}  // namespace

void decodeArgDecls(DecodeContext& ctx, const YamlNode* args, std::map<std::string, ArgSpec>* out) {
  if (!args || args->isNull()) return;
  if (!args->isMap()) {
    ctx.error(*args, "cannot unmarshal " + yamlTagName(*args) + " into map[string]spec.ArgDecl");
    return;
  }
  for (size_t i : sortedKeyOrder(*args)) {
    const std::string& name = args->keys[i].text;
    const YamlNode& decl = args->items[i];
    if (!isArgName(name)) {
      ctx.error(args->keys[i],
                argLabel(name) +
                    " is not a valid argument name (letters, digits, '_' and '-', not "
                    "starting with a digit)");
      continue;
    }
    Fields f(ctx, decl, "ArgDecl", {"default", "required", "description", "enum", "pattern"});
    ArgSpec spec;
    if (const YamlNode* d = f.get("default")) {
      std::string v;
      readString(ctx, d, &v);
      spec.default_value = v;
    }
    readBool(ctx, f.get("required"), &spec.required);
    readString(ctx, f.get("description"), &spec.description);
    readStringList(ctx, f.get("enum"), &spec.enum_values);
    readString(ctx, f.get("pattern"), &spec.pattern);
    if (!f.valid()) {
      if (decl.isNull())
        ctx.error(args->keys[i],
                  argLabel(name) + " must declare either a default or required: true");
      continue;
    }
    const YamlNode& at = args->keys[i];
    if (spec.default_value && spec.required) {
      ctx.error(
          at,
          argLabel(name) +
              " declares both a default and required: true (a required argument has no default)");
    } else if (!spec.default_value && !spec.required) {
      ctx.error(at, argLabel(name) + " must declare either a default or required: true");
    }
    if (!spec.enum_values.empty() && !spec.pattern.empty()) {
      ctx.error(at, argLabel(name) + " declares both enum and pattern (use one)");
    }
    for (size_t j = 0; j < spec.enum_values.size(); ++j) {
      if (std::find(
              spec.enum_values.begin(), spec.enum_values.begin() + static_cast<std::ptrdiff_t>(j),
              spec.enum_values[j]) != spec.enum_values.begin() + static_cast<std::ptrdiff_t>(j)) {
        ctx.error(f.get("enum")->items[j], argLabel(name) + ".enum[" + std::to_string(j) + "] " +
                                               quote(spec.enum_values[j]) + " is duplicated");
      }
    }
    if (!spec.pattern.empty()) {
      RE2 re(spec.pattern, RE2::Quiet);
      if (!re.ok()) {
        ctx.error(*f.get("pattern"),
                  argLabel(name) + ".pattern is not a valid regexp: " + re.error());
        spec.pattern.clear();
      }
    }
    if (spec.default_value) {
      std::string p = valueProblem(name, spec, *spec.default_value, ".default");
      if (!p.empty()) ctx.error(*f.get("default"), p);
    }
    (*out)[name] = std::move(spec);
  }
}

std::map<std::string, std::string> resolveArgValues(DecodeContext& ctx, const YamlNode& at,
                                                    const std::string& kit_name,
                                                    const std::map<std::string, ArgSpec>& decls,
                                                    const std::vector<KitArgValue>& supplied) {
  std::map<std::string, std::string> values;
  std::map<std::string, std::string> given;
  for (const auto& a : supplied) {
    if (!a.kit.empty() && a.kit != kit_name) continue;
    if (a.kit.empty() && given.count(a.name) && !decls.count(a.name)) continue;
    if (!decls.count(a.name)) {
      ctx.errorAt(at.line, at.column,
                  "--kit-arg " + quote(a.name) + ": kit " + quote(kit_name) +
                      " declares no argument " + quote(a.name));
      continue;
    }
    // A scoped value wins over an unscoped one whatever the order.
    if (a.kit.empty() && given.count("\x01" + a.name)) continue;
    given[a.name] = a.value;
    if (!a.kit.empty()) given["\x01" + a.name] = "";
  }
  for (const auto& [name, spec] : decls) {
    auto it = given.find(name);
    if (it != given.end()) {
      std::string p = valueProblem(name, spec, it->second, "");
      if (!p.empty()) ctx.errorAt(at.line, at.column, "--kit-arg " + name + ": " + p);
      values[name] = it->second;
    } else if (spec.default_value) {
      values[name] = *spec.default_value;
    } else if (spec.required) {  // (neither: already reported as a bad declaration)
      ctx.errorAt(at.line, at.column,
                  argLabel(name) + " is required but no value was given (pass --kit-arg " + name +
                      "=VALUE)");
    }
  }
  return values;
}

bool containsArgReference(std::string_view text) {
  return text.find("${{") != std::string_view::npos;
}

std::string substituteArgs(std::string_view text, const std::map<std::string, std::string>& values,
                           std::string_view where, std::vector<SubstitutionProblem>* problems) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    if (text.compare(i, 4, "$${{") == 0) {
      out += "${{";
      i += 4;
      continue;
    }
    if (text.compare(i, 3, "${{") != 0) {
      out += text[i++];
      continue;
    }
    size_t j = i + 3;
    while (j < text.size() && (text[j] == ' ' || text[j] == '\t')) ++j;
    if (text.compare(j, 9, "kit.args.") != 0) {
      out += text.substr(i, 3);  // another namespace (${{ github.sha }}): left as is
      i += 3;
      continue;
    }
    size_t close = text.find("}}", j);
    if (close == std::string_view::npos) {
      problems->push_back({i, std::string(where) + ": unterminated ${{ kit.args. reference"});
      out += text.substr(i);
      break;
    }
    std::string_view inner = text.substr(j + 9, close - j - 9);
    while (!inner.empty() && (inner.back() == ' ' || inner.back() == '\t')) inner.remove_suffix(1);
    std::string name(inner);
    if (!isArgName(name)) {
      problems->push_back({i, std::string(where) + ": malformed argument reference " +
                                  quote(text.substr(i, close + 2 - i))});
    } else if (!values.count(name)) {
      problems->push_back({i, std::string(where) + " references ${{ kit.args." + name +
                                  " }}, which spec.yaml does not declare in its args: block"});
    } else {
      out += values.at(name);  // never rescanned
    }
    i = close + 2;
  }
  return out;
}

namespace {

void substituteNode(DecodeContext& ctx, YamlNode* n,
                    const std::map<std::string, std::string>& values) {
  switch (n->kind) {
    case YamlNode::Kind::kNull:
      return;
    case YamlNode::Kind::kScalar: {
      if (!containsArgReference(n->text) && n->text.find("$${{") == std::string::npos) return;
      std::vector<SubstitutionProblem> problems;
      n->text = substituteArgs(n->text, values, "spec.yaml", &problems);
      for (const auto& p : problems) ctx.error(*n, p.message);
      if (!n->quoted && (n->text.empty() || n->text == "~" || n->text == "null" ||
                         n->text == "Null" || n->text == "NULL")) {
        n->kind = YamlNode::Kind::kNull;  // re-typed like an unquoted scalar
      }
      return;
    }
    case YamlNode::Kind::kSequence:
      for (auto& item : n->items) substituteNode(ctx, &item, values);
      return;
    case YamlNode::Kind::kMap:
      for (size_t i = 0; i < n->keys.size(); ++i) {
        if (n->keys[i].isScalar() && n->keys[i].text.find("kit.args.") != std::string::npos &&
            containsArgReference(n->keys[i].text)) {
          ctx.error(n->keys[i], "mapping key " + quote(n->keys[i].text) +
                                    " references an argument, which may only stand in for a value");
        }
        substituteNode(ctx, &n->items[i], values);
      }
      return;
  }
}

}  // namespace

void substituteTree(DecodeContext& ctx, YamlNode* root,
                    const std::map<std::string, std::string>& values) {
  if (!root->isMap()) return;
  for (size_t i = 0; i < root->keys.size(); ++i) {
    if (root->keys[i].isScalar() && root->keys[i].text == "args") continue;
    if (root->keys[i].isScalar() && containsArgReference(root->keys[i].text)) {
      ctx.error(root->keys[i], "mapping key " + quote(root->keys[i].text) +
                                   " references an argument, which may only stand in for a value");
    }
    substituteNode(ctx, &root->items[i], values);
  }
}

}  // namespace kitgate::kit
