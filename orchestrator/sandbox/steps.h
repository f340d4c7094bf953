// Steps and the one runner that executes them (the executor's Builder; the
// manager's create() is the Plan that lists the steps).
//
// A Step is {label, message, run, undo}: `label` names it in errors
// ("network", "install: Install Amp"), `message` is the progress line shown
// before it runs (empty = none), `run` does the work, `undo` (optional)
// takes back what a *completed* run made. A step that fails cleans up its own
// partial work; the runner never undoes the failed step itself.
//
// StepRunner owns, for every step alike: the progress line, cancellation
// (Progress::cancelled is polled before each step, so Ctrl-C is honoured
// between ANY two steps), failure naming (the error reads "<label>: <why>"
// and CreateFailure::step is set) and rollback (the undo of every completed
// step, in reverse, when the runner is destroyed without commit()).
// Several lists may be run one after the other on one runner (a later list
// may depend on what an earlier one produced); rollback spans all of them.
//
// Threads: one runner per thread; callbacks run on the calling thread.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "proxy/common/status.h"

namespace kitgate::sandbox {

struct Progress;
struct CreateFailure;

struct Step {
  std::string label;
  std::string message;
  std::function<Status()> run;
  std::function<Status()> undo;  // may be empty
};

std::vector<std::string> stepLabels(const std::vector<Step>& steps);

class StepRunner {
 public:
  // Both are borrowed; `failure` may be null.
  StepRunner(const Progress& progress, CreateFailure* failure);
  ~StepRunner();  // rolls back unless committed
  StepRunner(const StepRunner&) = delete;
  StepRunner& operator=(const StepRunner&) = delete;

  // Runs `steps` in order; stops at the first failure or cancellation and
  // returns "<label>: <why>". The runner keeps a copy of each completed
  // step's undo (what it captures must outlive the runner).
  Status run(const std::vector<Step>& steps);
  // Undoes every completed step now, in reverse (problems become warnings).
  void rollback();
  // Keeps what was made: nothing is undone.
  void commit() { undo_.clear(); }

 private:
  const Progress& progress_;
  CreateFailure* failure_;
  // Completed steps with an undo: label, undo.
  std::vector<std::pair<std::string, std::function<Status()>>> undo_;
};

}  // namespace kitgate::sandbox
