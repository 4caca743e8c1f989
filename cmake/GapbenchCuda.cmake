# Decides GAPBENCH_WITH_CUDA from GAPBENCH_CUDA (AUTO, ON, OFF). CUDA does not come from Debian:
# without NVIDIA's CUDA Toolkit (nvcc) AUTO builds the CPU backend alone and says so.
include(CheckLanguage)
set(GAPBENCH_WITH_CUDA OFF)
if(NOT GAPBENCH_CUDA STREQUAL "OFF")
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    enable_language(CUDA)
    find_package(CUDAToolkit REQUIRED)
    set(GAPBENCH_WITH_CUDA ON)
    message(STATUS "gapbench: CUDA backend ON (nvcc ${CMAKE_CUDA_COMPILER_VERSION}, "
                   "architectures ${CMAKE_CUDA_ARCHITECTURES})")
  elseif(GAPBENCH_CUDA STREQUAL "ON")
    message(FATAL_ERROR "GAPBENCH_CUDA=ON but no CUDA compiler (nvcc) was found. CUDA is not a "
                        "Debian package: install NVIDIA's CUDA Toolkit, or use -DGAPBENCH_CUDA=OFF")
  else()
    message(STATUS "gapbench: no CUDA compiler (nvcc) found; building the CPU backend alone. "
                   "CUDA is not a Debian package: install NVIDIA's CUDA Toolkit for the GPU backend")
  endif()
endif()
