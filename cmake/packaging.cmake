# Install rules and the Debian package (`make package`: cpack -G DEB in the build dir).
# The layout is the package's: the binary in /usr/bin (the systemd units run /usr/bin/sluice),
# units in /lib/systemd/system, the config in /etc/sluice (a conffile: an upgrade never
# overwrites the admin's edits). The maintainer scripts in packaging/deb/ create the `sluice`
# user and /var/lib/sluice, and never start the service: the admin edits the config first.

# The units name /usr/bin/sluice, so /usr is the prefix unless one is given.
if(CMAKE_INSTALL_PREFIX_INITIALIZED_TO_DEFAULT)
  set(CMAKE_INSTALL_PREFIX /usr CACHE PATH "Install prefix" FORCE)
endif()
set(SLUICE_SYSTEMD_UNIT_DIR /lib/systemd/system CACHE PATH "Where the systemd units go")
set(SLUICE_CONFIG_DIR /etc/sluice CACHE PATH "Where sluice.yaml goes")
set(SLUICE_DOC_DIR share/doc/sluice)

# `cpack` and `make install` install what is built and never build it themselves: `make
# package` builds first, and packaging a build dir whose daemon is current compiles nothing
# (without this, cpack's preinstall step would rebuild `all`, the unit tests included).
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)

install(TARGETS sluice RUNTIME DESTINATION bin)
install(FILES systemd/sluice.service systemd/sluice-once.service systemd/sluice-once.timer
        DESTINATION ${SLUICE_SYSTEMD_UNIT_DIR})
install(FILES packaging/sluice.yaml DESTINATION ${SLUICE_CONFIG_DIR})
install(FILES README.md DESTINATION ${SLUICE_DOC_DIR})
install(FILES config/README.md DESTINATION ${SLUICE_DOC_DIR} RENAME config.md)
install(FILES systemd/README.md DESTINATION ${SLUICE_DOC_DIR} RENAME systemd.md)
install(FILES config/example.yaml DESTINATION ${SLUICE_DOC_DIR}/examples)

set(CPACK_PACKAGE_NAME sluice)
set(CPACK_PACKAGE_VENDOR "sluice")
set(CPACK_PACKAGE_CONTACT "sluice maintainers <sluice@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "storage-event bridge: durable at-least-once deliveries")
string(CONCAT CPACK_PACKAGE_DESCRIPTION
    "sluice turns storage events (local directories, MinIO, S3, dCache, Onedata) into durable,\n"
    "at-least-once deliveries to webhooks, OSCAR, AWS Lambda and local jobs. It runs as a\n"
    "hardened systemd service (sluice.service) or on a timer (sluice-once.timer).")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Library dependencies come from dpkg-shlibdeps (package dpkg-dev) on the built binary; the
# maintainer scripts need adduser.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/packaging/deb/conffiles
    ${PROJECT_SOURCE_DIR}/packaging/deb/postinst
    ${PROJECT_SOURCE_DIR}/packaging/deb/prerm
    ${PROJECT_SOURCE_DIR}/packaging/deb/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
