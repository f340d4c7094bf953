// FakeSourceRunner: a state::SourceRunner (orchestrator/state/secret_sources.h)
// that answers from a script instead of running a process: the next value,
// or a failure, as the test says. Main thread only.
#pragma once

#include <string>

#include "orchestrator/state/secret_sources.h"

namespace kitgate::testing {

class FakeSourceRunner final : public state::SourceRunner {
 public:
  StatusOr<std::string> resolve(const state::SecretSource& source) const override {
    ++calls;
    last = source.describe();
    if (!failure.empty()) return Status::error(source.describe() + ": " + failure);
    return value;
  }
  std::string value = "value-1";
  std::string failure;  // non-empty: every resolve fails with it
  mutable int calls = 0;
  mutable std::string last;
};

}  // namespace kitgate::testing
