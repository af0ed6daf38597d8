# Third-party libraries, all from Debian packages (see README "Dependencies").
find_package(Threads REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)  # safetensors headers and config.json
if(QLINEAR_BUILD_TOOLS)
  find_package(CLI11 2.1 REQUIRED)  # command-line parsing of the qlinear tool
endif()
if(QLINEAR_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
