# kitgate_warnings: INTERFACE target every kitgate target links PRIVATE.
# -Werror only when KITGATE_WERROR is ON (CI), so a new compiler's new warning
# does not break a user's build.
add_library(kitgate_warnings INTERFACE)
target_compile_options(kitgate_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wnon-virtual-dtor
  # clang 14 has no -Wshadow=local; -Wshadow-uncaptured-local is its nearest.
  $<$<CXX_COMPILER_ID:GNU>:-Wshadow=local>
  $<$<CXX_COMPILER_ID:Clang>:-Wshadow-uncaptured-local>
  -Wno-missing-field-initializers
  $<$<BOOL:${KITGATE_WERROR}>:-Werror>)
