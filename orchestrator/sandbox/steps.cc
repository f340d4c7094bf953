#include "orchestrator/sandbox/steps.h"

#include "orchestrator/sandbox/manager.h"

namespace kitgate::sandbox {

std::vector<std::string> stepLabels(const std::vector<Step>& steps) {
  std::vector<std::string> out;
  out.reserve(steps.size());
  for (const Step& s : steps) out.push_back(s.label);
  return out;
}

StepRunner::StepRunner(const Progress& progress, CreateFailure* failure)
    : progress_(progress), failure_(failure) {}

StepRunner::~StepRunner() { rollback(); }

Status StepRunner::run(const std::vector<Step>& steps) {
  for (const Step& step : steps) {
    Status s = Status::ok();
    if (progress_.cancelled && progress_.cancelled()) {
      s = Status::error("interrupted before this step");
    } else {
      if (!step.message.empty() && progress_.step) progress_.step(step.message);
      s = step.run();
    }
    if (!s.isOk()) {
      if (failure_ != nullptr) failure_->step = step.label;
      return Status::error(step.label + ": " + s.message());
    }
    if (step.undo) undo_.emplace_back(step.label, step.undo);
  }
  return Status::ok();
}

void StepRunner::rollback() {
  for (auto it = undo_.rbegin(); it != undo_.rend(); ++it) {
    Status s = it->second();
    if (!s.isOk() && progress_.warning) {
      progress_.warning("cleanup: " + it->first + ": " + s.message());
    }
  }
  undo_.clear();
}

}  // namespace kitgate::sandbox
