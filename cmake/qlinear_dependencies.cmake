# Third-party libraries, all from Debian packages (see README "Dependencies").
find_package(Threads REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)  # safetensors headers and config.json
if(QLINEAR_BUILD_TOOLS)
  find_package(CLI11 2.1 REQUIRED)  # command-line parsing of the qlinear tool
endif()
if(QLINEAR_BUILD_TESTS AND CMAKE_CROSSCOMPILING)
  # Debian's libgtest is built for the host: build its sources (libgtest-dev ships them in
  # /usr/src/googletest) for the target instead (cmake/toolchains/, .ci/arm64).
  set(QLINEAR_GTEST_SOURCE_DIR /usr/src/googletest CACHE PATH "GoogleTest sources for cross builds")
  set(BUILD_GMOCK OFF)
  set(INSTALL_GTEST OFF)
  add_subdirectory(${QLINEAR_GTEST_SOURCE_DIR} ${CMAKE_BINARY_DIR}/googletest EXCLUDE_FROM_ALL)
elseif(QLINEAR_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
