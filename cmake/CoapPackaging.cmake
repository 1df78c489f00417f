# `make deb` (cpack -G DEB in the build directory): one Debian package with the shared and
# static libraries, the headers, the CMake and pkg-config files and the programs.
#
# The package is called `coap`, after the project and its targets. Debian's own CoAP library is
# libcoap (binary packages libcoap3, libcoap3-bin, libcoap3-dev, libcoap3-doc), so the names do
# not clash, and neither do the files: libcoap installs libcoap-3*.so, include/coap3/,
# libcoap-3*.pc and coap-client*/coap-server*/coap-rd*, this package libcoap.so.<SOVERSION>,
# include/coap/, coap.pc and coapd/coap/coap-bench. Both can be installed side by side.
set(CPACK_PACKAGE_NAME coap)
set(CPACK_PACKAGE_VENDOR "coap maintainers")
set(CPACK_PACKAGE_CONTACT "coap maintainers <maintainers@users.noreply.r-seed-765f93ab.example>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "A CoAP (RFC 7252) server and client library for Linux in C++20, with a
sans-I/O protocol core and io_uring I/O, and the programs coapd (server),
coap (client) and coap-bench (load generator). Build against it with
find_package(coap) in CMake or pkg-config coap.")
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)

set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # coap_<version>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# dpkg-shlibdeps computes the run-time dependencies (libc6, libstdc++6, liburing2, libssl3...).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# A shlibs file and an ldconfig trigger for libcoap.so.
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
# Linking the static library also needs liburing and libcrypto's development files.
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "liburing-dev, libssl-dev, pkg-config")

include(CPack)
