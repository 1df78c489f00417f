# cmake -DMODE=<mode> -DBUILD_DIR=<coap build> -DSOURCE_DIR=<coap source> -DWORK_DIR=<scratch>
#       -DPREFIX=<install prefix> -DCXX=<compiler> -DGENERATOR=<generator> [-DFLAGS=<cxx flags>]
#       [-DUSE_STATIC=ON] [-DUSE_SERVER=ON] [-DHAVE_SHARED=ON] [-DLIBRARY=<libcoap.so>]
#       -P RunConsumerTest.cmake
# One install test (cmake/CoapConsumerTests.cmake). MODE:
#   install           cmake --install of the library components into PREFIX, then checks the tree
#   find_package      tests/consumer against PREFIX with find_package(coap)
#   pkg_config        tests/consumer/main.cpp compiled with the flags of `pkg-config coap`
#   add_subdirectory  tests/consumer with the source tree added by add_subdirectory
#   fetchcontent      tests/consumer with the source tree made available by FetchContent
#   symbols           LIBRARY exports the public API and hides the internals
cmake_minimum_required(VERSION 3.25)

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT result EQUAL 0)
    string(REPLACE ";" " " command "${ARGN}")
    message(FATAL_ERROR "${command}\nfailed (${result}):\n${out}")
  endif()
  set(run_output "${out}" PARENT_SCOPE)
endfunction()

# Runs the consumer program and checks that it reached its end.
function(run_consumer program)
  run(${program})
  message("${run_output}")
  if(NOT run_output MATCHES "coap consumer: ok")
    message(FATAL_ERROR "${program} did not finish")
  endif()
  if(USE_SERVER AND NOT run_output MATCHES "server: port 0")
    message(FATAL_ERROR "${program} did not build a server")
  endif()
endfunction()

function(build_consumer)
  file(REMOVE_RECURSE ${WORK_DIR})
  run(${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/consumer -B ${WORK_DIR} -G ${GENERATOR}
      -DCMAKE_CXX_COMPILER=${CXX} "-DCMAKE_CXX_FLAGS=${FLAGS}" -DCMAKE_BUILD_TYPE=
      -DCOAP_CONSUMER_USE_SERVER=${USE_SERVER} ${ARGN})
  run(${CMAKE_COMMAND} --build ${WORK_DIR} --parallel 2)
  run_consumer(${WORK_DIR}/consumer)
endfunction()

if(NOT USE_SERVER)
  set(USE_SERVER OFF)
endif()

if(MODE STREQUAL "install")
  file(REMOVE_RECURSE ${PREFIX})
  foreach(component coap_runtime coap_development)
    run(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${PREFIX} --component ${component})
  endforeach()
  # Only the public headers, the libraries and the package files.
  file(GLOB_RECURSE installed RELATIVE ${PREFIX} ${PREFIX}/*)
  file(GLOB public RELATIVE ${SOURCE_DIR} ${SOURCE_DIR}/include/coap/*.hpp)
  set(library_files "libcoap\\.a" "libcoap\\.so(\\.[0-9.]+)?" "cmake/coap/coap-[a-z-]+\\.cmake"
                    "pkgconfig/coap\\.pc")
  list(JOIN library_files "|" library_files)
  foreach(file IN LISTS installed)
    if(NOT file IN_LIST public AND NOT file MATCHES "^lib/(${library_files})$")
      message(FATAL_ERROR "unexpected file installed: ${file}")
    endif()
  endforeach()
  set(expected lib/libcoap.a lib/pkgconfig/coap.pc lib/cmake/coap/coap-config.cmake)
  if(HAVE_SHARED)
    list(APPEND expected lib/libcoap.so)
  endif()
  foreach(file IN LISTS public expected)
    if(NOT file IN_LIST installed)
      message(FATAL_ERROR "not installed: ${file}")
    endif()
  endforeach()
  list(LENGTH installed count)
  message("${count} files installed into ${PREFIX}")
elseif(MODE STREQUAL "find_package")
  build_consumer(-DCOAP_CONSUMER_MODE=find_package -DCMAKE_PREFIX_PATH=${PREFIX}
                 -DCOAP_USE_STATIC=${USE_STATIC})
elseif(MODE STREQUAL "add_subdirectory" OR MODE STREQUAL "fetchcontent")
  build_consumer(-DCOAP_CONSUMER_MODE=${MODE} -DCOAP_SOURCE_DIR=${SOURCE_DIR})
elseif(MODE STREQUAL "pkg_config")
  file(REMOVE_RECURSE ${WORK_DIR})
  file(MAKE_DIRECTORY ${WORK_DIR})
  set(ENV{PKG_CONFIG_PATH} ${PREFIX}/lib/pkgconfig)
  run(pkg-config --modversion coap)
  message("pkg-config coap: version ${run_output}")
  run(pkg-config --cflags --libs coap)
  string(STRIP "${run_output}" flags)
  message("pkg-config coap: ${flags}")
  separate_arguments(flags UNIX_COMMAND "${flags}")
  separate_arguments(extra UNIX_COMMAND "${FLAGS}")
  if(USE_SERVER)
    list(APPEND extra -DCOAP_CONSUMER_USE_SERVER=1)
  endif()
  run(${CXX} -std=c++20 ${extra} ${SOURCE_DIR}/tests/consumer/main.cpp ${flags}
      -Wl,-rpath,${PREFIX}/lib -o ${WORK_DIR}/consumer)
  run_consumer(${WORK_DIR}/consumer)
elseif(MODE STREQUAL "symbols")
  # -fvisibility=hidden: the API is exported, the internals are not.
  run(nm -D --defined-only -C ${LIBRARY})
  set(exported "${run_output}")
  foreach(symbol "coap::parse(" "coap::encode(" "coap::Router::add(" "coap::Response::content("
          "coap::split_uri(" "coap::log(")
    string(FIND "${exported}" "${symbol}" at)
    if(at EQUAL -1)
      message(FATAL_ERROR "${LIBRARY} does not export ${symbol}")
    endif()
  endforeach()
  foreach(symbol "coap::ExchangeCache" "coap::ServerCore" "coap::UringWorker" "coap::dtls::")
    string(FIND "${exported}" "${symbol}" at)
    if(NOT at EQUAL -1)
      message(FATAL_ERROR "${LIBRARY} exports the internal ${symbol}")
    endif()
  endforeach()
  string(REGEX MATCHALL "coap::" names "${exported}")
  list(LENGTH names count)
  message("${LIBRARY}: ${count} exported names mention coap::")
else()
  message(FATAL_ERROR "unknown MODE ${MODE}")
endif()
