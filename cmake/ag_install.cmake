# Install rules (included by CMakeLists.txt when AG_INSTALL is on):
#   include/autograd_c/ag.h, nn.h
#   lib/libautograd.a, libautograd_nn.a                      (static)
#   lib/libautograd.so.X.Y.Z, libautograd_nn.so.X.Y.Z        (shared, SONAME .so.X.Y)
#   lib/pkgconfig/autograd_c.pc                              (pkg-config autograd_c)
#   lib/cmake/autograd_c/                                    (find_package(autograd_c))
# The CMake package gives the imported targets autograd_c::autograd and autograd_c::nn
# (shared libraries; static when the shared ones were not built) and
# autograd_c::autograd_static and autograd_c::nn_static.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(AG_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/autograd_c)

install(FILES autograd/include/ag.h nn/include/nn.h
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/autograd_c)

set(ag_installed autograd nn)
if(AG_SHARED)
  list(APPEND ag_installed autograd_shared nn_shared)
endif()
install(TARGETS ${ag_installed} EXPORT autograd_c_targets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(EXPORT autograd_c_targets NAMESPACE autograd_c:: FILE autograd_cTargets.cmake
        DESTINATION ${AG_INSTALL_CMAKEDIR})

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/autograd_cConfig.cmake.in
  ${PROJECT_BINARY_DIR}/autograd_cConfig.cmake INSTALL_DESTINATION ${AG_INSTALL_CMAKEDIR})
# 0.x: only the same minor version is compatible (as the SONAME says).
write_basic_package_version_file(${PROJECT_BINARY_DIR}/autograd_cConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/autograd_cConfig.cmake ${PROJECT_BINARY_DIR}/autograd_cConfigVersion.cmake
        DESTINATION ${AG_INSTALL_CMAKEDIR})

# pkg-config: the prefix is found from where the .pc file lies (${pcfiledir}), so the
# file is right for any --prefix given at install time and for a moved prefix.
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}" OR IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(AG_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
  set(AG_PC_LIBDIR "${CMAKE_INSTALL_FULL_LIBDIR}")
  set(AG_PC_INCLUDEDIR "${CMAKE_INSTALL_FULL_INCLUDEDIR}")
else()
  set(AG_PC_PREFIX "\${pcfiledir}")
  string(REPLACE "/" ";" ag_pc_parts "${CMAKE_INSTALL_LIBDIR}/pkgconfig")
  foreach(part IN LISTS ag_pc_parts)
    if(NOT part STREQUAL "" AND NOT part STREQUAL ".")
      string(APPEND AG_PC_PREFIX "/..")
    endif()
  endforeach()
  set(AG_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
  set(AG_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()
# Static libraries only: the program links libm itself (a shared libautograd brings it).
set(AG_PC_LIBS_M "")
if(NOT AG_SHARED)
  set(AG_PC_LIBS_M " -lm")
endif()
configure_file(${PROJECT_SOURCE_DIR}/cmake/autograd_c.pc.in ${PROJECT_BINARY_DIR}/autograd_c.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/autograd_c.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
