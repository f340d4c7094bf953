// Test helper: names parameterized cases after their `name` member, so a
// failing row reads "Smuggling/RequestRejects.WithStatus/cl_and_te".
#pragma once

#include <gtest/gtest.h>

#include <string>

namespace kitgate::http::test {

struct CaseName {
  template <typename Case>
  std::string operator()(const ::testing::TestParamInfo<Case>& param_info) const {
    return param_info.param.name;
  }
};

}  // namespace kitgate::http::test
