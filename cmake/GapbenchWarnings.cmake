# The warning flags of every gapbench target, in one place: gapbench_warnings(<target>).
#
# C++ (g++): -Wall -Wextra. CUDA (nvcc): the same for the host compiler through -Xcompiler; nvcc's
# own front end warns by default. With GAPBENCH_WERROR=ON (CI: scripts/test.sh, the ci preset)
# warnings fail the build: -Werror for g++ and for nvcc's host compiler, and nvcc's
# -Werror=all-warnings for what the CUDA front end, ptxas and the fatbinary tools report.
option(GAPBENCH_WERROR "Treat compiler warnings as errors" OFF)

function(gapbench_warnings target)
  set(cxx -Wall -Wextra)
  set(cuda -Xcompiler=-Wall,-Wextra)
  if(GAPBENCH_WERROR)
    list(APPEND cxx -Werror)
    list(APPEND cuda -Xcompiler=-Werror -Werror=all-warnings)
  endif()
  target_compile_options(${target} PRIVATE
    "$<$<COMPILE_LANGUAGE:CXX>:${cxx}>"
    "$<$<COMPILE_LANGUAGE:CUDA>:${cuda}>")
endfunction()
