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
# MPI (Open MPI from Debian) for qlinear::distributed; without it a group is one process.
# Only MPI's C interface is used. Cross builds leave it off: the host's MPI is the host's.
set(MPI_CXX_SKIP_MPICXX ON)
if(CMAKE_CROSSCOMPILING)
  set(QLINEAR_MPI_DEFAULT OFF)
else()
  find_package(MPI QUIET COMPONENTS CXX)
  set(QLINEAR_MPI_DEFAULT ${MPI_CXX_FOUND})
endif()
option(QLINEAR_MPI "Build the MPI backend of qlinear::distributed" ${QLINEAR_MPI_DEFAULT})
if(QLINEAR_MPI)
  find_package(MPI REQUIRED COMPONENTS CXX)
endif()
