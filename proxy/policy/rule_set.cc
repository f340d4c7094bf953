#include "proxy/policy/rule_set.h"

#include <re2/re2.h>
#include <re2/set.h>

#include <limits>

namespace kitgate::policy {
namespace {

// Glob pattern (validated by parseRule) -> RE2 syntax; never crosses a '.'.
std::string globToRegex(std::string_view pattern) {
  std::string re;
  if (pattern.rfind("**.", 0) == 0) {
    re = "(?:[^.]+\\.)+";
    pattern.remove_prefix(3);
  } else if (pattern.rfind("*.", 0) == 0) {
    re = "[^.]+\\.";
    pattern.remove_prefix(2);
  }
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    switch (c) {
      case '?':
        re += "[^.]";
        break;
      case '*':
        re += "[^.]*";
        break;
      case '.':
        re += "\\.";
        break;
      case '[': {
        const size_t close = pattern.find(']', i + 1);
        std::string_view body = pattern.substr(i + 1, close - i - 1);
        if (!body.empty() && body[0] == '!') {
          re += "[^.";
          body.remove_prefix(1);
        } else {
          re += "[";
        }
        re += body;
        re += "]";
        i = close;
        break;
      }
      default:
        re.push_back(c);
        break;  // [a-z0-9_-]: literal in RE2
    }
  }
  return re;
}

}  // namespace

struct RuleSet::GlobSet {
  GlobSet() : set(makeOptions(), re2::RE2::ANCHOR_BOTH) {}
  static re2::RE2::Options makeOptions() {
    re2::RE2::Options o;
    o.set_log_errors(false);
    o.set_max_mem(64 << 20);
    return o;
  }
  re2::RE2::Set set;
  std::vector<uint32_t> rule_index;  // set index -> List::rules index
};

RuleSet::RuleSet() = default;
RuleSet::~RuleSet() = default;

Status RuleSet::build(List& l) {
  for (uint32_t i = 0; i < l.rules.size(); ++i) {
    const Rule& r = l.rules[i];
    switch (r.kind) {
      case Rule::Kind::kAnyHost:
        l.any_host.push_back(i);
        break;
      case Rule::Kind::kExact:
        l.exact[r.pattern].push_back(i);
        break;
      case Rule::Kind::kSingleWildcard:
        l.single[r.pattern].push_back(i);
        break;
      case Rule::Kind::kMultiWildcard:
        l.multi[r.pattern].push_back(i);
        break;
      case Rule::Kind::kCidr:
        l.cidrs.insert(r.network, r.prefix_len, i);
        break;
      case Rule::Kind::kGlob: {
        if (!l.globs) l.globs = std::make_unique<GlobSet>();
        std::string err;
        if (l.globs->set.Add(globToRegex(r.pattern), &err) < 0) {
          return Status::error("rule \"" + r.text + "\": cannot compile glob: " + err);
        }
        l.globs->rule_index.push_back(i);
        break;
      }
    }
  }
  if (l.globs && !l.globs->set.Compile()) {
    return Status::error("glob rules exceed the matcher's memory budget");
  }
  return Status::ok();
}

StatusOr<std::shared_ptr<const RuleSet>> RuleSet::compile(std::vector<Rule> allow,
                                                          std::vector<Rule> deny) {
  std::shared_ptr<RuleSet> set(new RuleSet());
  set->allow_.rules = std::move(allow);
  set->deny_.rules = std::move(deny);
  if (Status s = build(set->allow_); !s.isOk()) return s;
  if (Status s = build(set->deny_); !s.isOk()) return s;
  return std::shared_ptr<const RuleSet>(std::move(set));
}

StatusOr<std::shared_ptr<const RuleSet>> RuleSet::compileText(
    const std::vector<std::string>& allow, const std::vector<std::string>& deny) {
  std::string errors;
  auto parseAll = [&](const std::vector<std::string>& texts, std::string_view what) {
    std::vector<Rule> rules;
    for (size_t i = 0; i < texts.size(); ++i) {
      auto parsed = parseRule(texts[i]);
      if (auto* e = std::get_if<RuleError>(&parsed)) {
        if (!errors.empty()) errors += '\n';
        errors += std::string(what) + "[" + std::to_string(i) + "]:" + std::to_string(e->column) +
                  ": " + e->message;
      } else {
        rules.push_back(std::move(std::get<Rule>(parsed)));
      }
    }
    return rules;
  };
  auto allow_rules = parseAll(allow, "allow");
  auto deny_rules = parseAll(deny, "deny");
  if (!errors.empty()) return Status::error(errors);
  return compile(std::move(allow_rules), std::move(deny_rules));
}

const Rule* RuleSet::firstInMap(const List& l, const NameMap& m, std::string_view key,
                                uint16_t port) const {
  auto it = m.find(key);
  if (it == m.end()) return nullptr;
  for (uint32_t i : it->second) {
    if (l.rules[i].matchesPort(port)) return &l.rules[i];
  }
  return nullptr;
}

const Rule* RuleSet::matchAnyHost(RuleAction action, uint16_t port) const {
  const List& l = list(action);
  for (uint32_t i : l.any_host) {
    if (l.rules[i].matchesPort(port)) return &l.rules[i];
  }
  return nullptr;
}

const Rule* RuleSet::matchName(RuleAction action, std::string_view name, uint16_t port) const {
  const List& l = list(action);
  if (const Rule* r = firstInMap(l, l.exact, name, port)) return r;
  size_t dot = name.find('.');
  if (dot != std::string_view::npos) {
    if (const Rule* r = firstInMap(l, l.single, name.substr(dot + 1), port)) return r;
    while (dot != std::string_view::npos) {
      if (const Rule* r = firstInMap(l, l.multi, name.substr(dot + 1), port)) return r;
      dot = name.find('.', dot + 1);
    }
  }
  // Cheap yes/no pass first (most requests match no glob, e.g. deny lists);
  // only a hit pays for the pass that collects which rules matched.
  if (l.globs && l.globs->set.Match(name, nullptr)) {
    thread_local std::vector<int> hits;  // reused: no allocation per request
    l.globs->set.Match(name, &hits);
    uint32_t best = std::numeric_limits<uint32_t>::max();
    for (int h : hits) {
      const uint32_t i = l.globs->rule_index[static_cast<size_t>(h)];
      if (i < best && l.rules[i].matchesPort(port)) best = i;
    }
    if (best != std::numeric_limits<uint32_t>::max()) return &l.rules[best];
  }
  return matchAnyHost(action, port);
}

const Rule* RuleSet::matchAddress(RuleAction action, const IpAddress& ip, uint16_t port) const {
  const List& l = list(action);
  if (l.cidrs.empty()) return nullptr;
  const Rule* found = nullptr;
  auto visit = [&](uint32_t i) {
    if (!l.rules[i].matchesPort(port)) return false;
    found = &l.rules[i];
    return true;
  };
  if (l.cidrs.forEachMatch(ip, visit)) return found;
  if (auto v4 = ip.embeddedV4()) l.cidrs.forEachMatch(*v4, visit);
  return found;
}

}  // namespace kitgate::policy
