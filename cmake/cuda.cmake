# cuda.cmake: the optional CUDA backend. src/kernels/cuda/*.cu -> static library
# sparsity_cuda (sm_80 + sm_90a machine code), linked into sparsity with SP_HAVE_CUDA.
# SP_CUDA: AUTO (on when nvcc is found; off in the sanitizer tree), ON, OFF.
set(SP_CUDA AUTO CACHE STRING "CUDA backend: AUTO, ON or OFF")
set_property(CACHE SP_CUDA PROPERTY STRINGS AUTO ON OFF)

set(SP_CUDA_BUILT OFF)
if(SP_CUDA STREQUAL "OFF")
  message(STATUS "CUDA backend: off (SP_CUDA=OFF)")
elseif(SP_SANITIZE AND SP_CUDA STREQUAL "AUTO")
  message(STATUS "CUDA backend: off in the sanitizer tree")
else()
  # CI and the Debian images keep nvcc in /usr/local/cuda/bin, not always on PATH.
  if(NOT CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX} AND EXISTS /usr/local/cuda/bin/nvcc)
    find_program(SP_NVCC nvcc)
    if(NOT SP_NVCC)
      set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
    endif()
  endif()
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    set(SP_CUDA_BUILT ON)
  elseif(SP_CUDA STREQUAL "ON")
    message(FATAL_ERROR "SP_CUDA=ON but no CUDA compiler was found")
  else()
    message(STATUS "CUDA backend: off (no nvcc found)")
  endif()
endif()

if(SP_CUDA_BUILT)
  if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
    set(CMAKE_CUDA_ARCHITECTURES 80)  # only for CMake's compiler check; targets set -gencode
  endif()
  enable_language(CUDA)
  find_package(CUDAToolkit REQUIRED)
  # Executables stay linked by the C compiler; the CUDA runtime comes in below.
  set(CMAKE_CUDA_LINKER_PREFERENCE_PROPAGATES OFF)

  file(GLOB SP_CUDA_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/kernels/cuda/*.cu)
  add_library(sparsity_cuda STATIC ${SP_CUDA_SOURCES})
  # The directory's C warnings flags mean nothing to nvcc: start from a clean list.
  set_property(TARGET sparsity_cuda PROPERTY COMPILE_OPTIONS "")
  set_target_properties(sparsity_cuda PROPERTIES CUDA_ARCHITECTURES OFF CUDA_STANDARD 17
                        CUDA_STANDARD_REQUIRED ON POSITION_INDEPENDENT_CODE ON)
  target_compile_options(sparsity_cuda PRIVATE
    -gencode=arch=compute_80,code=sm_80 -gencode=arch=compute_90a,code=sm_90a
    -lineinfo -Xcompiler=-Wall,-Wextra,-Werror -Werror=all-warnings)
  target_include_directories(sparsity_cuda PRIVATE ${CMAKE_SOURCE_DIR}/include ${CMAKE_SOURCE_DIR}/src)
  # cuSPARSELt is dlopen'ed at run time; its header (shipped with PyTorch) is used when found.
  find_path(SP_CUSPARSELT_INCLUDE cusparseLt.h
            HINTS ${CUDAToolkit_INCLUDE_DIRS} /usr/include /usr/local/include
            PATH_SUFFIXES nvidia/cusparselt/include)
  if(SP_CUSPARSELT_INCLUDE)
    message(STATUS "cuSPARSELt header: ${SP_CUSPARSELT_INCLUDE}")
    target_include_directories(sparsity_cuda PRIVATE ${SP_CUSPARSELT_INCLUDE})
  endif()
  target_link_libraries(sparsity_cuda PUBLIC CUDA::cudart_static CUDA::cublas CUDA::cusparse
                        ${CMAKE_DL_LIBS} stdc++)
  target_link_libraries(sparsity PUBLIC sparsity_cuda)
  target_compile_definitions(sparsity PUBLIC SP_HAVE_CUDA)
  message(STATUS "CUDA backend: on (${CMAKE_CUDA_COMPILER_VERSION}, sm_80 + sm_90a)")
endif()
