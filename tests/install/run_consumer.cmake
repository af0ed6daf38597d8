# Installs the build tree into a fresh prefix, then configures, builds and runs a consumer
# project against it with find_package(qlinear CONFIG REQUIRED).
# Inputs: BUILD_DIR, SOURCE_DIR (the consumer), WORK_DIR; TOOLCHAIN_FILE for cross builds
# (the consumer is built with it and run under its CMAKE_CROSSCOMPILING_EMULATOR).
set(toolchain_args "")
if(TOOLCHAIN_FILE)
  include(${TOOLCHAIN_FILE})
  set(toolchain_args -DCMAKE_TOOLCHAIN_FILE=${TOOLCHAIN_FILE})
endif()
file(REMOVE_RECURSE ${WORK_DIR})
function(run_step)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT status EQUAL 0)
    message(FATAL_ERROR "step failed (${status}): ${ARGN}\n${out}\n${err}")
  endif()
endfunction()
run_step(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${WORK_DIR}/prefix)
run_step(${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${WORK_DIR}/build
         -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix -DCMAKE_BUILD_TYPE=Release ${toolchain_args})
run_step(${CMAKE_COMMAND} --build ${WORK_DIR}/build)
run_step(${CMAKE_CROSSCOMPILING_EMULATOR} ${WORK_DIR}/build/consumer)
message(STATUS "consumer built and ran against ${WORK_DIR}/prefix")
