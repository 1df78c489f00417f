# `cmake --install`: the public headers, both libraries, a CMake package config
# (find_package(coap CONFIG)) and coap.pc for pkg-config, plus the programs when built.
# Components: coap_runtime (libcoap.so.*), coap_development (everything needed to build
# against the library) and coap_tools (coapd, coap, coap-bench).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(COAP_CMAKE_INSTALL_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/coap)

# Only include/coap/ is installed: the headers under src/ are internal.
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/coap
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        COMPONENT coap_development
        FILES_MATCHING PATTERN "*.hpp")

install(TARGETS coap EXPORT coap-static-targets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT coap_development)
install(EXPORT coap-static-targets NAMESPACE coap::
        DESTINATION ${COAP_CMAKE_INSTALL_DIR} COMPONENT coap_development)

if(TARGET coap_shared)
  install(TARGETS coap_shared EXPORT coap-shared-targets
          LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
                  COMPONENT coap_runtime NAMELINK_COMPONENT coap_development)
  install(EXPORT coap-shared-targets NAMESPACE coap::
          DESTINATION ${COAP_CMAKE_INSTALL_DIR} COMPONENT coap_development)
endif()

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/coap-config.cmake.in
                              ${PROJECT_BINARY_DIR}/coap-config.cmake
                              INSTALL_DESTINATION ${COAP_CMAKE_INSTALL_DIR})
# Before 1.0 a minor release may change the API, so only the same minor version matches.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/coap-config-version.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/coap-config.cmake
              ${PROJECT_BINARY_DIR}/coap-config-version.cmake
        DESTINATION ${COAP_CMAKE_INSTALL_DIR} COMPONENT coap_development)

# coap.pc names the prefix the files are installed under, which is known only at install time
# (`cmake --install --prefix`, CPack's /usr), so it is written then.
install(CODE "
  set(PROJECT_DESCRIPTION [[${PROJECT_DESCRIPTION}]])
  set(PROJECT_VERSION ${PROJECT_VERSION})
  set(CMAKE_INSTALL_LIBDIR [[${CMAKE_INSTALL_LIBDIR}]])
  set(CMAKE_INSTALL_INCLUDEDIR [[${CMAKE_INSTALL_INCLUDEDIR}]])
  configure_file([[${PROJECT_SOURCE_DIR}/cmake/coap.pc.in]] [[${PROJECT_BINARY_DIR}/coap.pc]] @ONLY)
" COMPONENT coap_development)
install(FILES ${PROJECT_BINARY_DIR}/coap.pc
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT coap_development)

# The programs link the static library, so they need no libcoap.so at run time.
foreach(program coapd coap-cli coap-bench)
  if(TARGET ${program})
    install(TARGETS ${program} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT coap_tools)
  endif()
endforeach()
