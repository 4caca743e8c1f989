# ctest install_consumer: installs the build into a fresh prefix, then configures, builds and runs
# an outside project (consumer/) that finds it with find_package(gapbench CONFIG) and links
# gapbench::core. Rebuilds nothing of gapbench.
# cmake -DBUILD_DIR=<gapbench build> -DWORK_DIR=<scratch> -DGENERATOR=<generator>
#       -DCXX=<compiler> -DBUILD_TYPE=<type> [-DCXX_FLAGS=...] [-DLINKER_FLAGS=...]
#       -P install_consumer.cmake
function(run what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "${what} failed (${result}):\n${out}")
  endif()
  set(output "${out}" PARENT_SCOPE)
endfunction()

set(prefix ${WORK_DIR}/prefix)
file(REMOVE_RECURSE ${WORK_DIR})
run("cmake --install" ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix})
foreach(file IN ITEMS bin/gapbench share/gapbench/plot.py include/gapbench/backend.hpp)
  if(NOT EXISTS ${prefix}/${file})
    message(FATAL_ERROR "the install has no ${file}")
  endif()
endforeach()

# The build's compiler and flags (a sanitizer build's consumer needs the sanitizer runtime too).
run("configuring the consumer" ${CMAKE_COMMAND} -S ${CMAKE_CURRENT_LIST_DIR}/consumer
    -B ${WORK_DIR}/build -G ${GENERATOR} -DCMAKE_PREFIX_PATH=${prefix}
    -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_BUILD_TYPE=${BUILD_TYPE}
    "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}" "-DCMAKE_EXE_LINKER_FLAGS=${LINKER_FLAGS}")
run("building the consumer" ${CMAKE_COMMAND} --build ${WORK_DIR}/build)
run("the consumer" ${WORK_DIR}/build/consumer)
message(STATUS "${output}")
if(NOT output MATCHES "consumer: ok")
  message(FATAL_ERROR "the consumer did not say ok:\n${output}")
endif()
