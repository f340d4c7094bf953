# kitgate_warnings: INTERFACE target every kitgate target links PRIVATE.
# -Werror only when KITGATE_WERROR is ON (CI), so a new compiler's new warning
# does not break a user's build.
add_library(kitgate_warnings INTERFACE)
target_compile_options(kitgate_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow=local -Wnon-virtual-dtor
  -Wno-missing-field-initializers
  $<$<BOOL:${KITGATE_WERROR}>:-Werror>)
