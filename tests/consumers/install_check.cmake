# cmake -DBUILD=... -DPREFIX=... -DLIBDIR=lib -DSHARED=ON|OFF -DVERSION=X.Y.Z -DSOVERSION=X.Y
#       -P install_check.cmake
# Installs the build tree into a fresh PREFIX and checks that every file a user needs is
# there: headers, static and shared libraries with their SONAME links, pkg-config file,
# CMake package files.
file(REMOVE_RECURSE ${PREFIX})
execute_process(COMMAND ${CMAKE_COMMAND} --install ${BUILD} --prefix ${PREFIX} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cmake --install ${BUILD} --prefix ${PREFIX} failed (${rc})")
endif()
set(expected
  include/autograd_c/ag.h include/autograd_c/nn.h
  ${LIBDIR}/libautograd.a ${LIBDIR}/libautograd_nn.a
  ${LIBDIR}/pkgconfig/autograd_c.pc
  ${LIBDIR}/cmake/autograd_c/autograd_cConfig.cmake
  ${LIBDIR}/cmake/autograd_c/autograd_cConfigVersion.cmake
  ${LIBDIR}/cmake/autograd_c/autograd_cTargets.cmake)
if(SHARED)
  foreach(lib autograd autograd_nn)
    list(APPEND expected ${LIBDIR}/lib${lib}.so ${LIBDIR}/lib${lib}.so.${SOVERSION} ${LIBDIR}/lib${lib}.so.${VERSION})
  endforeach()
endif()
foreach(f IN LISTS expected)
  if(NOT EXISTS ${PREFIX}/${f})
    message(FATAL_ERROR "cmake --install did not install ${f}")
  endif()
endforeach()
if(SHARED)
  # The SONAME is what programs record: lib<name>.so.MAJOR.MINOR.
  find_program(READELF readelf)
  if(READELF)
    foreach(lib autograd autograd_nn)
      execute_process(COMMAND ${READELF} -d ${PREFIX}/${LIBDIR}/lib${lib}.so.${VERSION} OUTPUT_VARIABLE dyn)
      if(NOT dyn MATCHES "SONAME\\)[^\n]*\\[lib${lib}\\.so\\.${SOVERSION}\\]")
        message(FATAL_ERROR "lib${lib}.so.${VERSION} has no SONAME lib${lib}.so.${SOVERSION}:\n${dyn}")
      endif()
    endforeach()
  endif()
endif()
list(LENGTH expected n)
message(STATUS "installed into ${PREFIX}: ${n} files checked")
