// StepRunner: order, failure naming, cancellation between any two steps,
// rollback of completed steps in reverse (never of the failed one), commit.
#include "orchestrator/sandbox/steps.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "orchestrator/sandbox/manager.h"

namespace kitgate::sandbox {
namespace {

using ::testing::ElementsAre;

class StepRunnerTest : public ::testing::Test {
 protected:
  // Steps a, b, c; the one named `failing` fails.
  std::vector<Step> steps(const std::string& failing = "") {
    std::vector<Step> out;
    for (std::string name : {"a", "b", "c"}) {
      out.push_back({name, "making " + name,
                     [this, name, failing] {
                       log.push_back("run " + name);
                       return name == failing ? Status::error("it broke") : Status::ok();
                     },
                     [this, name] {
                       log.push_back("undo " + name);
                       return name == undo_fails ? Status::error("still there") : Status::ok();
                     }});
    }
    return out;
  }
  Progress progress() {
    Progress p;
    p.step = [this](std::string_view s) { shown.emplace_back(s); };
    p.warning = [this](std::string_view s) { warnings.emplace_back(s); };
    return p;
  }
  std::vector<std::string> log, shown, warnings;
  std::string undo_fails;
};

TEST_F(StepRunnerTest, RunsInOrderShowsProgressAndKeepsWhatItMadeOnCommit) {
  auto list = steps();
  Progress p = progress();
  {
    StepRunner runner(p, nullptr);
    ASSERT_TRUE(runner.run(list).isOk());
    runner.commit();
  }
  EXPECT_THAT(log, ElementsAre("run a", "run b", "run c"));
  EXPECT_THAT(shown, ElementsAre("making a", "making b", "making c"));
  EXPECT_THAT(stepLabels(list), ElementsAre("a", "b", "c"));
}

TEST_F(StepRunnerTest, FailureIsNamedAndUndoesCompletedStepsInReverse) {
  auto list = steps("c");
  Progress p = progress();
  CreateFailure failure;
  {
    StepRunner runner(p, &failure);
    Status s = runner.run(list);
    EXPECT_EQ(s.message(), "c: it broke");
  }
  EXPECT_EQ(failure.step, "c");
  EXPECT_THAT(log, ElementsAre("run a", "run b", "run c", "undo b", "undo a"));
}

TEST_F(StepRunnerTest, CancellationBetweenAnyTwoStepsAcrossListsUndoesAll) {
  for (size_t k = 0; k < 5; ++k) {
    SCOPED_TRACE(k);
    log.clear();
    auto first = steps();
    std::vector<Step> second = {{"d", "",
                                 [this] {
                                   log.push_back("run d");
                                   return Status::ok();
                                 },
                                 [this] {
                                   log.push_back("undo d");
                                   return Status::ok();
                                 }},
                                {"e",
                                 "",
                                 [this] {
                                   log.push_back("run e");
                                   return Status::ok();
                                 },
                                 {}}};
    Progress p = progress();
    size_t polls = 0;
    p.cancelled = [&] { return polls++ == k; };
    {
      StepRunner runner(p, nullptr);
      Status s = runner.run(first);
      if (s.isOk()) s = runner.run(second);
      ASSERT_FALSE(s.isOk());
      EXPECT_THAT(s.message(), ::testing::HasSubstr("interrupted before this step"));
    }
    // Every step that ran is undone (e has no undo), newest first.
    std::vector<std::string> expected;
    const char* names[] = {"a", "b", "c", "d", "e"};
    for (size_t i = 0; i < k; ++i) expected.push_back(std::string("run ") + names[i]);
    for (size_t i = k; i-- > 0;) {
      if (std::string(names[i]) != "e") expected.push_back(std::string("undo ") + names[i]);
    }
    EXPECT_EQ(log, expected);
  }
}

TEST_F(StepRunnerTest, AFailingUndoBecomesANamedWarningAndTheRestStillRun) {
  undo_fails = "b";
  auto list = steps("c");
  Progress p = progress();
  {
    StepRunner runner(p, nullptr);
    EXPECT_FALSE(runner.run(list).isOk());
  }
  EXPECT_THAT(log, ElementsAre("run a", "run b", "run c", "undo b", "undo a"));
  EXPECT_THAT(warnings, ElementsAre("cleanup: b: still there"));
}

}  // namespace
}  // namespace kitgate::sandbox
