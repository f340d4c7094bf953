// RuleSet: one scope's allow and deny rules (the global policy, or one
// sandbox's own rules) compiled into an immutable matcher.
//
//  * exact names, `*.x` and `**.x` go through hash lookups over the host's
//    label suffixes: cost grows with the host's label count, not the number
//    of rules;
//  * glob rules are compiled into one RE2::Set per list;
//  * IP literals and CIDRs sit in a CidrTable (one hash probe per distinct
//    prefix length). An IPv6 address embedding an IPv4 (::ffff:10.0.0.1,
//    64:ff9b::/96, 2002::/16 …) is matched against the IPv4 rules too.
//
// compile() runs at load time (any thread). A compiled RuleSet is immutable;
// its const methods may be called concurrently from every worker. Share it
// as std::shared_ptr<const RuleSet>. Evaluation of a sandbox's layered
// rules (global + own) is done by Policy (proxy/policy/policy.h).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "proxy/common/status.h"
#include "proxy/policy/cidr_table.h"
#include "proxy/policy/ip_address.h"
#include "proxy/policy/rule.h"

namespace re2 {
class RE2;
}  // namespace re2

namespace kitgate::policy {

enum class RuleAction { kAllow, kDeny };

class RuleSet {
 public:
  // Fails only if RE2 cannot compile the glob rules (e.g. memory budget).
  static StatusOr<std::shared_ptr<const RuleSet>> compile(std::vector<Rule> allow,
                                                          std::vector<Rule> deny);
  // Convenience for tests and tools: parse then compile; the error lists
  // every bad rule as `<allow|deny>[i]:<column>: <message>`.
  static StatusOr<std::shared_ptr<const RuleSet>> compileText(const std::vector<std::string>& allow,
                                                              const std::vector<std::string>& deny);

  ~RuleSet();
  RuleSet(const RuleSet&) = delete;
  RuleSet& operator=(const RuleSet&) = delete;

  // First rule of `action` matching host name `name` (already normalised,
  // Host::Kind::kName) on `port`, considering name rules and `**`; nullptr
  // when none matches.
  const Rule* matchName(RuleAction action, std::string_view name, uint16_t port) const;
  // First IP/CIDR rule of `action` containing `ip` on `port` (`**` is not an
  // address rule and never matches here).
  const Rule* matchAddress(RuleAction action, const IpAddress& ip, uint16_t port) const;
  // First `**` rule of `action` for `port`.
  const Rule* matchAnyHost(RuleAction action, uint16_t port) const;

  bool hasAddressRules(RuleAction action) const { return !list(action).cidrs.empty(); }
  const std::vector<Rule>& rules(RuleAction action) const { return list(action).rules; }

 private:
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using NameMap =
      std::unordered_map<std::string, std::vector<uint32_t>, StringHash, std::equal_to<>>;
  struct GlobSet;  // RE2::Set + rule indices, defined in the .cc
  struct List {
    std::vector<Rule> rules;
    NameMap exact, single, multi;
    std::vector<uint32_t> any_host;
    std::unique_ptr<GlobSet> globs;
    CidrTable<uint32_t> cidrs;
  };

  RuleSet();
  static Status build(List& list);
  const List& list(RuleAction a) const { return a == RuleAction::kAllow ? allow_ : deny_; }
  const Rule* firstInMap(const List& l, const NameMap& m, std::string_view key,
                         uint16_t port) const;

  List allow_;
  List deny_;
};

}  // namespace kitgate::policy
