# Install and export. An outside project uses an installed gapbench with
#   find_package(gapbench CONFIG REQUIRED)
#   target_link_libraries(app PRIVATE gapbench::core)
# gapbench::core is gapbench_backends (make_backend, Backend::run_batch, the sweep and propagate
# runners); the static libraries under it come along with their link dependencies: gapbench::host
# (gapbench_core) and, in a CUDA build, gapbench::cuda (gapbench_cuda). Headers go to
# include/gapbench/ (as "gapbench/backend.hpp"); the gapbench executable and plot.py are installed
# by src/gapbench/cli/CMakeLists.txt. ctest install_consumer tests all of this.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(gapbench_exported gapbench_backends gapbench_core)
set_target_properties(gapbench_backends PROPERTIES EXPORT_NAME core)
set_target_properties(gapbench_core PROPERTIES EXPORT_NAME host)
if(GAPBENCH_WITH_CUDA)
  list(APPEND gapbench_exported gapbench_cuda)
  set_target_properties(gapbench_cuda PROPERTIES EXPORT_NAME cuda)
endif()
install(TARGETS ${gapbench_exported} EXPORT gapbenchTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT cpp
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT cpp
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
# The host headers (.hpp, compiled by g++); not the CLI's, not cuda/'s .cuh (internal to the
# CUDA library).
install(DIRECTORY ${PROJECT_SOURCE_DIR}/src/gapbench DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        COMPONENT cpp FILES_MATCHING PATTERN "*.hpp" PATTERN "cli" EXCLUDE)

set(gapbench_config_dir ${CMAKE_INSTALL_LIBDIR}/cmake/gapbench)
install(EXPORT gapbenchTargets NAMESPACE gapbench:: DESTINATION ${gapbench_config_dir}
        COMPONENT cpp)
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/gapbenchConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/gapbenchConfig.cmake
                              INSTALL_DESTINATION ${gapbench_config_dir})
# 0.x: a minor version may change the interface.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/gapbenchConfigVersion.cmake
                                 VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/gapbenchConfig.cmake
              ${PROJECT_BINARY_DIR}/gapbenchConfigVersion.cmake
        DESTINATION ${gapbench_config_dir} COMPONENT cpp)
