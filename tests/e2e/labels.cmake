# Read by ctest after the discovered tests of kitgate_e2e_test (and
# kitgate_transparent_e2e_test) are defined:
# gives them both labels (gtest_discover_tests flattens a list-valued LABELS).
if(kitgate_e2e_test_TESTS)
  set_tests_properties(${kitgate_e2e_test_TESTS} PROPERTIES LABELS "docker;e2e")
endif()
if(kitgate_transparent_e2e_test_TESTS)
  set_tests_properties(${kitgate_transparent_e2e_test_TESTS} PROPERTIES LABELS "docker;e2e")
endif()
