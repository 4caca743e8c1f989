# ctest build_commit: `gapbench info` reports the commit of the checkout it was built from, as
# `git rev-parse --short=12 HEAD` gives it (with "-dirty" when tracked files had changes), and
# "unknown" outside a git checkout. Fails after a commit that was not built yet: that binary does
# not come from HEAD.
# cmake -DGAPBENCH=<gapbench executable> -DSOURCE_DIR=<checkout> -DGIT=<git> -P build_commit.cmake
execute_process(COMMAND ${GAPBENCH} info RESULT_VARIABLE info_result OUTPUT_VARIABLE info
                ERROR_VARIABLE info_error)
if(NOT info_result EQUAL 0)
  message(FATAL_ERROR "gapbench info failed (${info_result}): ${info_error}")
endif()
if(NOT info MATCHES "\\(commit ([^,]+),")
  message(FATAL_ERROR "gapbench info printed no commit:\n${info}")
endif()
set(reported ${CMAKE_MATCH_1})

set(head "")
if(GIT)
  execute_process(COMMAND ${GIT} -C ${SOURCE_DIR} rev-parse --short=12 HEAD
                  RESULT_VARIABLE head_result OUTPUT_VARIABLE head
                  OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(NOT head_result EQUAL 0)
    set(head "")
  endif()
endif()
if(head STREQUAL "")
  set(expected "^unknown$")
else()
  set(expected "^${head}(-dirty)?$")
endif()
if(NOT reported MATCHES "${expected}")
  message(FATAL_ERROR "gapbench info reports commit '${reported}', the checkout is at "
                      "'${head}' (rebuild after committing)")
endif()
message(STATUS "gapbench info reports commit ${reported}; HEAD is ${head}")
