# Included by tests/CMakeLists.txt. Installs the project into a prefix inside the build
# tree (the fixture test consumer_install), then builds and runs small programs against
# it the way another project would:
#   consumer_find_package  C, find_package(autograd_c): the shared and the static targets
#   consumer_cxx           C++, find_package(autograd_c): ag.h and nn.h from C++
#   consumer_pkg_config    C, pkg-config --cflags --libs autograd_c
#   consumer_subdir        C, add_subdirectory of the source tree (libraries only, and no
#                          failure when cmocka is missing)
# A consumer whose tool (a C++ compiler, pkg-config) is missing is skipped and says so.
if(NOT AG_INSTALL OR AG_FUZZ)
  message(STATUS "autograd_c: the consumer tests need AG_INSTALL=ON and AG_FUZZ=OFF; not added")
  return()
endif()

set(AG_PREFIX ${CMAKE_CURRENT_BINARY_DIR}/prefix)
set(AG_CONSUMERS ${CMAKE_CURRENT_SOURCE_DIR}/consumers)
# A sanitizer build's libraries need the consumers built with the same runtime.
set(AG_CONSUMER_FLAGS "")
if(AG_SANITIZE)
  set(AG_CONSUMER_FLAGS "-fsanitize=address,undefined -fno-omit-frame-pointer")
endif()
set(AG_CONSUMER_OPTIONS
  -DCMAKE_PREFIX_PATH=${AG_PREFIX}
  -DCMAKE_BUILD_TYPE=Release
  "-DCMAKE_C_FLAGS=${AG_CONSUMER_FLAGS}"
  "-DCMAKE_CXX_FLAGS=${AG_CONSUMER_FLAGS}")

add_test(NAME consumer_install
         COMMAND ${CMAKE_COMMAND} -DBUILD=${PROJECT_BINARY_DIR} -DPREFIX=${AG_PREFIX}
                 -DLIBDIR=${CMAKE_INSTALL_LIBDIR} -DSHARED=${AG_SHARED} -DVERSION=${PROJECT_VERSION}
                 -DSOVERSION=${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR}
                 -P ${AG_CONSUMERS}/install_check.cmake)
set_tests_properties(consumer_install PROPERTIES FIXTURES_SETUP ag_installed)

add_test(NAME consumer_find_package
         COMMAND ${CMAKE_CTEST_COMMAND} --build-and-test ${AG_CONSUMERS}/c ${CMAKE_CURRENT_BINARY_DIR}/consumer_c
                 --build-generator ${CMAKE_GENERATOR} --build-makeprogram ${CMAKE_MAKE_PROGRAM}
                 --build-options ${AG_CONSUMER_OPTIONS}
                 --test-command ${CMAKE_CTEST_COMMAND} --output-on-failure)

include(CheckLanguage)
check_language(CXX)
if(CMAKE_CXX_COMPILER)
  add_test(NAME consumer_cxx
           COMMAND ${CMAKE_CTEST_COMMAND} --build-and-test ${AG_CONSUMERS}/cxx ${CMAKE_CURRENT_BINARY_DIR}/consumer_cxx
                   --build-generator ${CMAKE_GENERATOR} --build-makeprogram ${CMAKE_MAKE_PROGRAM}
                   --build-options ${AG_CONSUMER_OPTIONS} -DCMAKE_CXX_COMPILER=${CMAKE_CXX_COMPILER}
                   --test-command consumer_cxx)
else()
  add_test(NAME consumer_cxx COMMAND sh -c "echo 'no C++ compiler found (apt-get install -y g++): skipped'; exit 77")
endif()

separate_arguments(ag_consumer_flag_list UNIX_COMMAND "${AG_CONSUMER_FLAGS}")
add_test(NAME consumer_pkg_config
         COMMAND sh ${AG_CONSUMERS}/pkg_config.sh ${AG_PREFIX}/${CMAKE_INSTALL_LIBDIR} ${AG_CONSUMERS}/c/main.c
                 ${CMAKE_CURRENT_BINARY_DIR}/consumer_pkg_config ${CMAKE_C_COMPILER} ${ag_consumer_flag_list})
set_tests_properties(consumer_find_package consumer_cxx consumer_pkg_config PROPERTIES
                     FIXTURES_REQUIRED ag_installed SKIP_RETURN_CODE 77)

# add_subdirectory needs no install. Asked for its tests with no cmocka to be found (the
# find is confined to an empty root), it must skip them and still build the libraries.
add_test(NAME consumer_subdir
         COMMAND ${CMAKE_CTEST_COMMAND} --build-and-test ${AG_CONSUMERS}/subdir ${CMAKE_CURRENT_BINARY_DIR}/consumer_subdir
                 --build-generator ${CMAKE_GENERATOR} --build-makeprogram ${CMAKE_MAKE_PROGRAM}
                 --build-options -DAG_SOURCE_DIR=${PROJECT_SOURCE_DIR} -DAG_CONSUMER_MAIN=${AG_CONSUMERS}/c/main.c
                                 -DCMAKE_BUILD_TYPE=Release -DAG_BUILD_TESTS=ON -DAG_CLONES=OFF
                                 -DCMAKE_FIND_ROOT_PATH=${CMAKE_CURRENT_BINARY_DIR}/consumer_subdir_empty_root
                                 -DCMAKE_FIND_ROOT_PATH_MODE_INCLUDE=ONLY -DCMAKE_FIND_ROOT_PATH_MODE_LIBRARY=ONLY
                 --test-command consumer)
