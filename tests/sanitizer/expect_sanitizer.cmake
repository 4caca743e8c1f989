# Runs CANARY MODE and passes only when a sanitizer stopped it: exit code EXIT_CODE (the
# presets' ASAN_OPTIONS/UBSAN_OPTIONS exitcode, distinct from every code gapbench's tests expect)
# and REPORT (a regular expression) in its output.
#   cmake -DCANARY=<exe> -DMODE=<mode> -DEXIT_CODE=86 -DREPORT=<regex> -P expect_sanitizer.cmake
execute_process(COMMAND ${CANARY} ${MODE} RESULT_VARIABLE code OUTPUT_VARIABLE out
                ERROR_VARIABLE out)
set(found "not found")
if(out MATCHES "${REPORT}")
  set(found "found")
endif()
if(NOT code STREQUAL EXIT_CODE OR NOT found STREQUAL "found")
  message(FATAL_ERROR
    "sanitizer canary '${MODE}': exit ${code} (want ${EXIT_CODE}), report /${REPORT}/ "
    "${found}. Run through the preset (ctest --preset asan), which sets the "
    "sanitizers' exitcode in ASAN_OPTIONS and UBSAN_OPTIONS. Output:\n${out}")
endif()
message(STATUS "sanitizer canary '${MODE}': exit ${code}, report found")
