# `cmake --install` layout (GNUInstallDirs):
#   component proxy  <prefix>/bin/kitgate-proxy
#   component cli    <prefix>/bin/kitgate
#   component host   <prefix>/lib/systemd/system/kitgate-proxy.service and
#                    kitgate-daemon.service (paths filled in),
#                    <etc>/kitgate/proxy.yaml (the host daemon's config template)
#   component doc    <prefix>/share/doc/kitgate/{README,deploy,secrets-format,sandbox-format}.md
# <etc> is /etc for the prefix /usr, else <prefix>/etc — decided when
# installing, so `cmake --install build --prefix /usr` puts the config in
# /etc and the unit names /usr/bin. State is /var/lib/kitgate either way.
# The container image (deploy/container/build-image.sh) installs component
# proxy into its root file system.
include(GNUInstallDirs)

if(TARGET kitgate-proxy)
  install(TARGETS kitgate-proxy RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT proxy)
endif()
if(TARGET kitgate)
  install(TARGETS kitgate RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT cli)
endif()

# The unit and the config: their directories depend on the prefix given at
# install time, so they are placed by a script run then.
set(KITGATE_UNIT_IN ${PROJECT_SOURCE_DIR}/deploy/systemd/kitgate-proxy.service.in)
set(KITGATE_DAEMON_UNIT_IN ${PROJECT_SOURCE_DIR}/deploy/systemd/kitgate-daemon.service.in)
set(KITGATE_HOST_CONFIG ${PROJECT_SOURCE_DIR}/deploy/systemd/proxy.yaml)
install(CODE "
  set(KITGATE_BINDIR \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}\")
  set(KITGATE_DOCDIR \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_DOCDIR}\")
  if(CMAKE_INSTALL_PREFIX STREQUAL \"/usr\")
    set(KITGATE_SYSCONFDIR /etc)
  else()
    set(KITGATE_SYSCONFDIR \"\${CMAKE_INSTALL_PREFIX}/etc\")
  endif()
  set(unit_dir \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/lib/systemd/system\")
  message(STATUS \"Installing: \${unit_dir}/kitgate-proxy.service\")
  configure_file(\"${KITGATE_UNIT_IN}\" \"\${unit_dir}/kitgate-proxy.service\" @ONLY)
  message(STATUS \"Installing: \${unit_dir}/kitgate-daemon.service\")
  configure_file(\"${KITGATE_DAEMON_UNIT_IN}\" \"\${unit_dir}/kitgate-daemon.service\" @ONLY)
  file(INSTALL \"${KITGATE_HOST_CONFIG}\" DESTINATION \"\${KITGATE_SYSCONFDIR}/kitgate\")  # file(INSTALL) adds DESTDIR
" COMPONENT host)

install(FILES ${PROJECT_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT doc)
foreach(doc deploy/README.md:deploy.md proxy/secrets/FORMAT.md:secrets-format.md
            proxy/sandbox/FORMAT.md:sandbox-format.md)
  string(REPLACE ":" ";" doc "${doc}")
  list(GET doc 0 from)
  list(GET doc 1 to)
  install(FILES ${PROJECT_SOURCE_DIR}/${from} DESTINATION ${CMAKE_INSTALL_DOCDIR} RENAME ${to} COMPONENT doc)
endforeach()
