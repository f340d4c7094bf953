# Helpers shared by every folder's CMakeLists.

# kitgate_add_subdirs(a b c): add each folder that has a CMakeLists.txt, so a
# folder can be created (by its owner) without touching its parent's file.
function(kitgate_add_subdirs)
  foreach(dir IN LISTS ARGN)
    if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${dir}/CMakeLists.txt)
      add_subdirectory(${dir})
    endif()
  endforeach()
endfunction()

# kitgate_add_test(NAME SOURCES a.cc b.cc LIBS lib1 lib2 [LABELS l] [TIMEOUT s])
# One GoogleTest binary; every TEST becomes its own ctest entry.
function(kitgate_add_test name)
  cmake_parse_arguments(T "" "TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_LIBS} GTest::gtest GTest::gmock GTest::gtest_main kitgate_warnings)
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 120)
  endif()
  # An empty LABELS value would swallow the next keyword (ENVIRONMENT).
  set(label_props)
  if(T_LABELS)
    set(label_props LABELS "${T_LABELS}")
  endif()
  include(GoogleTest)
  gtest_discover_tests(${name}
    DISCOVERY_MODE PRE_TEST
    WORKING_DIRECTORY ${CMAKE_BINARY_DIR}
    PROPERTIES TIMEOUT ${T_TIMEOUT} ${label_props}
    ENVIRONMENT "KITGATE_SOURCE_DIR=${PROJECT_SOURCE_DIR};KITGATE_BUILD_DIR=${CMAKE_BINARY_DIR}")
endfunction()

# kitgate_add_fuzzer(NAME SOURCES f.cc LIBS lib SEEDS dir)
# With KITGATE_FUZZ (clang): a libFuzzer binary. Otherwise: the same
# LLVMFuzzerTestOneInput linked with a tiny driver that replays the seed
# corpus, registered as a ctest so the target always builds and its seeds
# never crash.
function(kitgate_add_fuzzer name)
  cmake_parse_arguments(F "" "SEEDS" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${F_SOURCES})
  target_link_libraries(${name} PRIVATE ${F_LIBS} kitgate_warnings)
  if(KITGATE_FUZZ)
    target_compile_options(${name} PRIVATE -fsanitize=fuzzer)
    target_link_options(${name} PRIVATE -fsanitize=fuzzer)
  else()
    target_sources(${name} PRIVATE ${PROJECT_SOURCE_DIR}/fuzz/replay_main.cc)
    if(KITGATE_BUILD_TESTS AND F_SEEDS)
      add_test(NAME ${name}.replay_seeds COMMAND ${name} ${F_SEEDS})
    endif()
  endif()
endfunction()
