// forEachKey: the one key check of every YAML loader (proxy.yaml in
// proxy/config, sandboxes/*.yaml in proxy/sandbox, secrets.yaml and routes in
// proxy/secrets). Unknown keys are errors, never ignored.
//
// Header-only on purpose: only the loaders include it, and they already
// include and link yaml-cpp (kitgate_common itself does not). Pure; any
// thread; never throws beyond what yaml-cpp's node iteration does.
#pragma once

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <initializer_list>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>

namespace kitgate {

// `s` safe to echo in an error: control characters as '?', at most 200 bytes.
inline std::string printableKey(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 200)) {
    const auto u = static_cast<unsigned char>(c);
    out.push_back(u < 0x20 || u == 0x7f ? '?' : c);
  }
  return out;
}

struct KeyCheck {
  std::initializer_list<std::string_view> known;
  // Where the mapping is, for messages ("limits" -> "unknown key "x" in
  // limits"); "" says nothing.
  std::string_view where = {};
  // false: an unknown key is not echoed (in a secrets file it may be a
  // value typed in the wrong place).
  bool show_unknown = true;
};

// Calls fn(key, value) or fn(key, value, key_mark) for each key of `map` that is a string, known
// and seen for the first time; reports every other key with report(key_mark, message)
// ("expected a string key", "unknown key "x" (expected one of: a, b)",
// "duplicate key "a""). Returns the keys passed to fn.
template <typename Report, typename Fn>
std::set<std::string> forEachKey(const YAML::Node& map, const KeyCheck& check, Report&& report,
                                 Fn&& fn) {
  std::set<std::string> seen;
  const std::string in = check.where.empty() ? "" : " in " + std::string(check.where);
  for (const auto& kv : map) {
    const YAML::Node& key = kv.first;
    if (!key.IsScalar()) {
      report(key.Mark(), "expected a string key" + in);
      continue;
    }
    const std::string& k = key.Scalar();
    if (std::find(check.known.begin(), check.known.end(), k) == check.known.end()) {
      std::string list;
      for (std::string_view n : check.known) list += (list.empty() ? "" : ", ") + std::string(n);
      report(key.Mark(), "unknown key" +
                             (check.show_unknown ? " \"" + printableKey(k) + "\"" : std::string()) +
                             in + " (expected one of: " + list + ")");
      continue;
    }
    if (!seen.insert(k).second) {
      report(key.Mark(), "duplicate key \"" + k + "\"" + in);
      continue;
    }
    if constexpr (std::is_invocable_v<Fn, const std::string&, const YAML::Node&,
                                      const YAML::Mark&>) {
      fn(k, kv.second, key.Mark());
    } else {
      fn(k, kv.second);
    }
  }
  return seen;
}

}  // namespace kitgate
