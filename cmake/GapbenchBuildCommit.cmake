# The commit a build compiles, recorded when it is built (not when it is configured, nor when it
# runs): the short hash (12 digits), with "-dirty" when tracked files had uncommitted changes, or
# "unknown" outside a git checkout. It defines gapbench::git_commit() (build_info.hpp).
#
# Included: gapbench_build_commit(<target>) adds to <target> a generated build_commit.cpp and a
# step, run by every build, that runs this file as a script. The script rewrites the file only
# when the commit or the dirty state changed, so an unchanged tree recompiles and relinks nothing.
#
# As a script (cmake -P): -DSOURCE_DIR=<checkout> -DOUTPUT=<build_commit.cpp> [-DGIT=<git>].

if(CMAKE_SCRIPT_MODE_FILE)
  set(commit unknown)
  if(GIT)
    execute_process(COMMAND ${GIT} -C ${SOURCE_DIR} rev-parse --short=12 HEAD
                    RESULT_VARIABLE head_result OUTPUT_VARIABLE head
                    OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
    if(head_result EQUAL 0 AND head)
      # --no-optional-locks: a build must not take the index lock from a git command running
      # in the same checkout.
      execute_process(COMMAND ${GIT} --no-optional-locks -C ${SOURCE_DIR}
                              status --porcelain --untracked-files=no
                      RESULT_VARIABLE status_result OUTPUT_VARIABLE changes ERROR_QUIET)
      set(commit ${head})
      if(NOT status_result EQUAL 0 OR changes)
        string(APPEND commit -dirty)
      endif()
    endif()
  endif()
  set(text "// Generated at build time by cmake/GapbenchBuildCommit.cmake: the commit of this build.
#include \"gapbench/build_info.hpp\"

std::string gapbench::git_commit() { return \"${commit}\"; }
")
  set(old "")
  if(EXISTS ${OUTPUT})
    file(READ ${OUTPUT} old)
  endif()
  if(NOT old STREQUAL text)
    file(WRITE ${OUTPUT} "${text}")
    message(STATUS "gapbench: build commit ${commit}")
  endif()
  return()
endif()

find_package(Git QUIET)

function(gapbench_build_commit target)
  set(output ${CMAKE_CURRENT_BINARY_DIR}/generated/build_commit.cpp)
  add_custom_target(${target}_build_commit
    COMMAND ${CMAKE_COMMAND} -DSOURCE_DIR=${PROJECT_SOURCE_DIR} -DOUTPUT=${output}
            -DGIT=${GIT_EXECUTABLE} -P ${CMAKE_CURRENT_FUNCTION_LIST_FILE}
    BYPRODUCTS ${output}
    VERBATIM)
  target_sources(${target} PRIVATE ${output})
  add_dependencies(${target} ${target}_build_commit)
endfunction()
