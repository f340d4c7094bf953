# FindBoringSSL: Debian's android-libboringssl-dev (headers in
# /usr/include/android, libraries in /usr/lib/<multiarch>/android).
#
# Creates:
#   BoringSSL::crypto, BoringSSL::ssl   IMPORTED shared libraries (full paths)
#   BoringSSL_FOUND, BoringSSL_INCLUDE_DIR, BoringSSL_LIBRARY_DIR
#
# The include directory is added as a SYSTEM include so it is searched BEFORE
# /usr/include: <openssl/ssl.h> must resolve to BoringSSL's header, never to
# the system OpenSSL one. The library directory is not on the loader path, so
# the targets carry an rpath to it; binaries run from the build tree and
# after installation without LD_LIBRARY_PATH.
include(FindPackageHandleStandardArgs)

find_path(BoringSSL_INCLUDE_DIR
  NAMES openssl/is_boringssl.h
  PATHS /usr/include/android
  NO_DEFAULT_PATH)

set(_kitgate_bssl_libdirs /usr/lib/android)
if(CMAKE_LIBRARY_ARCHITECTURE)
  list(PREPEND _kitgate_bssl_libdirs /usr/lib/${CMAKE_LIBRARY_ARCHITECTURE}/android)
endif()
# NO_DEFAULT_PATH: the system libssl/libcrypto (OpenSSL) must never be found here.
find_library(BoringSSL_SSL_LIBRARY NAMES ssl PATHS ${_kitgate_bssl_libdirs} NO_DEFAULT_PATH)
find_library(BoringSSL_CRYPTO_LIBRARY NAMES crypto PATHS ${_kitgate_bssl_libdirs} NO_DEFAULT_PATH)
unset(_kitgate_bssl_libdirs)

find_package_handle_standard_args(BoringSSL
  REQUIRED_VARS BoringSSL_SSL_LIBRARY BoringSSL_CRYPTO_LIBRARY BoringSSL_INCLUDE_DIR)

if(BoringSSL_FOUND)
  get_filename_component(BoringSSL_LIBRARY_DIR ${BoringSSL_SSL_LIBRARY} DIRECTORY)
  if(NOT TARGET BoringSSL::crypto)
    add_library(BoringSSL::crypto SHARED IMPORTED)
    set_target_properties(BoringSSL::crypto PROPERTIES
      IMPORTED_LOCATION ${BoringSSL_CRYPTO_LIBRARY}
      INTERFACE_INCLUDE_DIRECTORIES ${BoringSSL_INCLUDE_DIR}
      INTERFACE_SYSTEM_INCLUDE_DIRECTORIES ${BoringSSL_INCLUDE_DIR}
      INTERFACE_LINK_OPTIONS "LINKER:-rpath,${BoringSSL_LIBRARY_DIR}")
  endif()
  if(NOT TARGET BoringSSL::ssl)
    add_library(BoringSSL::ssl SHARED IMPORTED)
    set_target_properties(BoringSSL::ssl PROPERTIES
      IMPORTED_LOCATION ${BoringSSL_SSL_LIBRARY}
      INTERFACE_LINK_LIBRARIES BoringSSL::crypto)
  endif()
endif()
mark_as_advanced(BoringSSL_INCLUDE_DIR BoringSSL_SSL_LIBRARY BoringSSL_CRYPTO_LIBRARY)
