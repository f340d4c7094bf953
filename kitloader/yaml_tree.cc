// The one file that includes yaml-cpp (STYLE rule 10): parse events are
// turned into an owned YamlNode tree; every yaml-cpp exception is caught here.
#include "kitloader/yaml_tree.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/mark.h>
#include <yaml-cpp/parser.h>
#include <yaml-cpp/yaml.h>

#include <map>
#include <new>
#include <sstream>
#include <utility>

namespace kitgate::kit {

const YamlNode* YamlNode::find(std::string_view key) const {
  if (kind != Kind::kMap) return nullptr;
  for (size_t i = 0; i < keys.size(); ++i) {
    if (keys[i].kind == Kind::kScalar && keys[i].text == key) return &items[i];
  }
  return nullptr;
}

namespace {

struct Abort {
  YamlError error;
};

size_t countNodes(const YamlNode& n) {
  size_t c = 1;
  for (const auto& k : n.keys) c += countNodes(k);
  for (const auto& i : n.items) c += countNodes(i);
  return c;
}

class TreeBuilder : public YAML::EventHandler {
 public:
  explicit TreeBuilder(const YamlLimits& limits) : limits_(limits) {}

  std::optional<YamlNode> takeRoot() { return std::move(root_); }

  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    YamlNode n = make(mark, YamlNode::Kind::kNull);
    finish(std::move(n), anchor, 1);
  }

  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    auto it = anchors_.find(anchor);
    if (it == anchors_.end()) {
      fail(mark, "alias refers to an anchor that is not defined yet (recursive alias)");
    }
    charge(mark, it->second.second);
    YamlNode copy = it->second.first;
    // The alias stands where it is written: diagnostics point at the use.
    copy.line = mark.line + 1;
    copy.column = mark.column + 1;
    finish(std::move(copy), 0, 0);
  }

  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    YamlNode n = make(mark, YamlNode::Kind::kScalar);
    n.quoted = tag != "?";
    n.text = value;
    finish(std::move(n), anchor, 1);
  }

  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    open(mark, YamlNode::Kind::kSequence, anchor);
  }
  void OnSequenceEnd() override { close(); }

  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    open(mark, YamlNode::Kind::kMap, anchor);
  }
  void OnMapEnd() override {
    applyMergeKeys(stack_.back().node);
    close();
  }

 private:
  struct Frame {
    YamlNode node;
    YAML::anchor_t anchor = 0;
    size_t nodes_at_open = 0;
    bool expect_key = true;  // maps: next child is a key
  };

  [[noreturn]] void fail(const YAML::Mark& mark, std::string message) {
    throw Abort{YamlError{mark.line + 1, mark.column + 1, std::move(message)}};
  }

  void charge(const YAML::Mark& mark, size_t n) {
    nodes_ += n;
    if (nodes_ > limits_.max_nodes) {
      fail(mark, "YAML document expands to more than " + std::to_string(limits_.max_nodes) +
                     " nodes (alias expansion bomb, \"billion laughs\"?); refusing to load it");
    }
  }

  YamlNode make(const YAML::Mark& mark, YamlNode::Kind kind) {
    YamlNode n;
    n.kind = kind;
    n.line = mark.line + 1;
    n.column = mark.column + 1;
    return n;
  }

  void open(const YAML::Mark& mark, YamlNode::Kind kind, YAML::anchor_t anchor) {
    if (stack_.size() + 1 > limits_.max_depth) {
      fail(mark, "YAML nesting is deeper than " + std::to_string(limits_.max_depth) +
                     " levels; refusing to load it");
    }
    charge(mark, 1);
    stack_.push_back(Frame{make(mark, kind), anchor, nodes_, true});
  }

  void close() {
    Frame f = std::move(stack_.back());
    stack_.pop_back();
    size_t count = nodes_ - f.nodes_at_open + 1;
    finish(std::move(f.node), f.anchor, count, /*charged=*/true);
  }

  void finish(YamlNode n, YAML::anchor_t anchor, size_t count, bool charged = false) {
    if (!charged && count > 0) {
      YAML::Mark m;
      m.line = n.line - 1;
      m.column = n.column - 1;
      charge(m, count);
    }
    if (anchor != 0) {
      anchors_[anchor] = {n, count == 0 ? countNodes(n) : count};
    }
    if (stack_.empty()) {
      if (!root_) root_ = std::move(n);
      return;
    }
    Frame& parent = stack_.back();
    if (parent.node.kind == YamlNode::Kind::kSequence) {
      parent.node.items.push_back(std::move(n));
    } else if (parent.expect_key) {
      parent.node.keys.push_back(std::move(n));
      parent.expect_key = false;
    } else {
      parent.node.items.push_back(std::move(n));
      parent.expect_key = true;
    }
  }

  // `<<: *base` / `<<: [*a, *b]`: copy keys not already present.
  void applyMergeKeys(YamlNode& map) {
    for (size_t i = 0; i < map.keys.size();) {
      const YamlNode& k = map.keys[i];
      if (!(k.kind == YamlNode::Kind::kScalar && !k.quoted && k.text == "<<")) {
        ++i;
        continue;
      }
      YamlNode source = std::move(map.items[i]);
      map.keys.erase(map.keys.begin() + static_cast<std::ptrdiff_t>(i));
      map.items.erase(map.items.begin() + static_cast<std::ptrdiff_t>(i));
      std::vector<const YamlNode*> sources;
      if (source.kind == YamlNode::Kind::kMap) sources.push_back(&source);
      if (source.kind == YamlNode::Kind::kSequence) {
        for (const auto& s : source.items) {
          if (s.kind == YamlNode::Kind::kMap) sources.push_back(&s);
        }
      }
      for (const YamlNode* s : sources) {
        for (size_t j = 0; j < s->keys.size(); ++j) {
          if (s->keys[j].kind == YamlNode::Kind::kScalar && map.find(s->keys[j].text)) continue;
          map.keys.push_back(s->keys[j]);
          map.items.push_back(s->items[j]);
        }
      }
    }
  }

  const YamlLimits& limits_;
  std::vector<Frame> stack_;
  std::optional<YamlNode> root_;
  std::map<YAML::anchor_t, std::pair<YamlNode, size_t>> anchors_;
  size_t nodes_ = 0;
};

}  // namespace

YamlParse parseYaml(std::string_view text, const YamlLimits& limits) {
  YamlParse out;
  try {
    std::istringstream in{std::string(text)};
    YAML::Parser parser(in);
    TreeBuilder builder(limits);
    parser.HandleNextDocument(builder);
    out.root = builder.takeRoot();
  } catch (const Abort& a) {
    out.error = a.error;
  } catch (const YAML::Exception& e) {
    out.error = YamlError{e.mark.line + 1, e.mark.column + 1, "invalid YAML: " + e.msg};
  } catch (const std::bad_alloc&) {
    out.error = YamlError{0, 0, "invalid YAML: out of memory while parsing"};
  } catch (const std::exception& e) {
    out.error = YamlError{0, 0, std::string("invalid YAML: ") + e.what()};
  }
  if (out.error) out.root.reset();
  return out;
}

std::optional<Utf8Error> findInvalidUtf8(std::string_view text) {
  int line = 1;
  int column = 1;
  size_t i = 0;
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  while (i < text.size()) {
    unsigned char c = s[i];
    size_t len = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      len = 1;
      cp = c;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return Utf8Error{line, column, i};
    }
    if (i + len > text.size()) return Utf8Error{line, column, i};
    for (size_t k = 1; k < len; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) return Utf8Error{line, column, i};
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    bool overlong =
        (len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000);
    if (overlong || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) || (c == 0 && len == 1)) {
      return Utf8Error{line, column, i};
    }
    if (c == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
    i += len;
  }
  return std::nullopt;
}

}  // namespace kitgate::kit
