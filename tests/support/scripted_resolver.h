// ScriptedResolver: a tunnel::Resolver answering from a table, synchronously;
// a name not in the table never answers (a DNS timeout, for the caller's
// timer to end). Records every name asked. Single-threaded.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "proxy/tunnel/resolver.h"

namespace kitgate::testing {

class ScriptedResolver final : public tunnel::Resolver {
 public:
  std::map<std::string, tunnel::ResolveResult> answers;
  std::vector<std::string> asked;
  std::unique_ptr<tunnel::Lookup> resolve(const std::string& host, Callback cb) override {
    asked.push_back(host);
    auto it = answers.find(host);
    if (it == answers.end()) return std::make_unique<tunnel::Lookup>();
    cb(it->second);
    return nullptr;
  }
};

}  // namespace kitgate::testing
