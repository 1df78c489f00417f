# The two flavours of the library, built from one set of objects (included at the end of
# src/CMakeLists.txt, so that the imported targets found there are in scope):
#
#   coap          static (libcoap.a), what this project's tests and tools link: the tests reach
#                 internal symbols. Exported as coap::coap_static.
#   coap_shared   shared (libcoap.so.<SOVERSION>), linked from the whole static archive. The
#                 objects are compiled with hidden visibility, so only what the headers mark
#                 COAP_API (include/coap/export.hpp) is exported. Exported as coap::coap_shared.
#   coap::coap    one of the two: the shared library, unless COAP_USE_STATIC is ON (the default
#                 when coap is the top-level project) or no shared library is built. The
#                 installed package config makes the same choice.
include(GNUInstallDirs)

# 0.x releases may break the ABI in any minor release, so the minor is part of the SONAME.
if(PROJECT_VERSION_MAJOR EQUAL 0)
  set(COAP_SOVERSION ${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR})
else()
  set(COAP_SOVERSION ${PROJECT_VERSION_MAJOR})
endif()

set_target_properties(coap PROPERTIES
  EXPORT_NAME coap_static
  CXX_VISIBILITY_PRESET hidden
  VISIBILITY_INLINES_HIDDEN ON)
# Users of the static library get an empty COAP_API; the objects themselves keep the marks.
target_compile_definitions(coap INTERFACE COAP_STATIC_DEFINE)
add_library(coap::coap_static ALIAS coap)

if(COAP_BUILD_SHARED)
  set_target_properties(coap PROPERTIES POSITION_INDEPENDENT_CODE ON)
  # Calls inside the library may be inlined even though the exported functions could in
  # principle be interposed: interposing them is not supported.
  target_compile_options(coap PRIVATE $<$<CXX_COMPILER_ID:GNU>:-fno-semantic-interposition>)

  # CMake wants one source per library; the code comes from the archive.
  set(shared_source ${CMAKE_CURRENT_BINARY_DIR}/coap_shared.cpp)
  file(CONFIGURE OUTPUT ${shared_source}
       CONTENT "// libcoap.so is linked from the whole static archive (cmake/CoapLibrary.cmake).\n")
  add_library(coap_shared SHARED ${shared_source})
  add_library(coap::coap_shared ALIAS coap_shared)
  target_link_libraries(coap_shared PRIVATE "$<LINK_LIBRARY:WHOLE_ARCHIVE,coap>"
                        PUBLIC Threads::Threads)
  target_include_directories(coap_shared PUBLIC
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  target_compile_features(coap_shared PUBLIC cxx_std_20)
  set_target_properties(coap_shared PROPERTIES
    OUTPUT_NAME coap
    EXPORT_NAME coap_shared
    VERSION ${PROJECT_VERSION}
    SOVERSION ${COAP_SOVERSION}
    LIBRARY_OUTPUT_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR}/shared)
  # Every symbol the library needs must come from the libraries it names.
  target_link_options(coap_shared PRIVATE LINKER:--no-undefined)
endif()

if(COAP_USE_STATIC OR NOT TARGET coap_shared)
  add_library(coap::coap ALIAS coap)
else()
  add_library(coap::coap ALIAS coap_shared)
endif()
