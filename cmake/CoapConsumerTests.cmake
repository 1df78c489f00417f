# ctest -L install: tests/consumer builds against coap the ways a user would, each in a scratch
# directory under the build tree, with no network. Only the library is built in the consumer
# builds (coap as a subproject turns its tests, tools and benchmarks off).
set(consumer_root ${PROJECT_BINARY_DIR}/consumer-tests)

# Turn on once server.hpp, server_config.hpp, request.hpp and client.hpp mark their API with
# COAP_API: the consumers of the shared library then also build a Server and use the client.
set(COAP_CONSUMER_SHARED_SERVER ON)

# The consumers are compiled with this build's flags, so that a sanitizer build gives them the
# sanitizer runtime its libcoap.so needs.
set(consumer_flags "${CMAKE_CXX_FLAGS}")
if(COAP_SANITIZE)
  string(APPEND consumer_flags " -fsanitize=address,undefined -fno-sanitize-recover=all")
endif()

function(coap_consumer_test name mode)
  add_test(NAME install_${name}
    COMMAND ${CMAKE_COMMAND} -DMODE=${mode} -DBUILD_DIR=${PROJECT_BINARY_DIR}
            -DSOURCE_DIR=${PROJECT_SOURCE_DIR} -DWORK_DIR=${consumer_root}/${name}
            -DPREFIX=${consumer_root}/prefix -DCXX=${CMAKE_CXX_COMPILER}
            -DGENERATOR=${CMAKE_GENERATOR} "-DFLAGS=${consumer_flags}" ${ARGN}
            -P ${PROJECT_SOURCE_DIR}/cmake/RunConsumerTest.cmake)
  set_tests_properties(install_${name} PROPERTIES LABELS install TIMEOUT 300)
endfunction()

if(TARGET coap_shared)
  coap_consumer_test(tree install -DHAVE_SHARED=ON)
else()
  coap_consumer_test(tree install)
endif()
set_tests_properties(install_tree PROPERTIES FIXTURES_SETUP coap_install_tree)
if(TARGET coap_shared)
  coap_consumer_test(find_package find_package -DUSE_SERVER=${COAP_CONSUMER_SHARED_SERVER})
  coap_consumer_test(pkg_config pkg_config -DUSE_SERVER=${COAP_CONSUMER_SHARED_SERVER})
  coap_consumer_test(shared_symbols symbols -DLIBRARY=$<TARGET_FILE:coap_shared>)
  set_tests_properties(install_find_package install_pkg_config PROPERTIES
                       FIXTURES_REQUIRED coap_install_tree)
endif()
coap_consumer_test(find_package_static find_package -DUSE_STATIC=ON -DUSE_SERVER=ON)
set_tests_properties(install_find_package_static PROPERTIES FIXTURES_REQUIRED coap_install_tree)

# These compile the library's sources again (unoptimised, to keep them short). They check the
# build system, not memory safety, so the sanitizer build leaves them to the Release one.
if(NOT COAP_SANITIZE)
  coap_consumer_test(add_subdirectory add_subdirectory -DUSE_SERVER=${COAP_CONSUMER_SHARED_SERVER})
  coap_consumer_test(fetchcontent fetchcontent -DUSE_SERVER=${COAP_CONSUMER_SHARED_SERVER})
endif()
