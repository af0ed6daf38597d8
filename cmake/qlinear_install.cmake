include(CMakePackageConfigHelpers)

install(TARGETS qlinear EXPORT qlinearTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY include/qlinear DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT qlinearTargets NAMESPACE qlinear:: FILE qlinearTargets.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/qlinear)
configure_package_config_file(cmake/qlinearConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/qlinearConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/qlinear)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/qlinearConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/qlinearConfig.cmake
  ${CMAKE_CURRENT_BINARY_DIR}/qlinearConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/qlinear)
