# Cross-compiling for 64-bit ARM Linux with Debian's GNU toolchain (g++-aarch64-linux-gnu);
# test executables run under qemu user emulation (qemu-user) with the target's libraries
# from /usr/aarch64-linux-gnu, so ctest and gtest_discover_tests work on an x86-64 host.
#   cmake -S . -B build-arm64 -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/aarch64-linux-gnu.cmake
# (.ci/arm64 does exactly that.)
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(QLINEAR_CROSS_PREFIX aarch64-linux-gnu)
set(CMAKE_C_COMPILER ${QLINEAR_CROSS_PREFIX}-gcc)
set(CMAKE_CXX_COMPILER ${QLINEAR_CROSS_PREFIX}-g++)
set(CMAKE_CROSSCOMPILING_EMULATOR "qemu-aarch64;-L;/usr/${QLINEAR_CROSS_PREFIX}")

# Libraries and programs: the target's for the former, the host's for the latter.
# Header-only packages (nlohmann_json, CLI11) are found in the host's /usr as usual.
set(CMAKE_FIND_ROOT_PATH /usr/${QLINEAR_CROSS_PREFIX})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)
