# C unit tests: tests/test_*.c, each its own executable and ctest.
file(GLOB SP_TESTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/test_*.c)
foreach(src ${SP_TESTS})
  get_filename_component(name ${src} NAME_WE)
  add_executable(${name} ${src})
  target_include_directories(${name} PRIVATE src tests)
  target_link_libraries(${name} PRIVATE sparsity)
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES ENVIRONMENT "SP_ASSETS=${CMAKE_SOURCE_DIR}/assets" SKIP_RETURN_CODE 77)
endforeach()

# Tools the Python reference tests drive: tests/tools/*.c.
file(GLOB SP_TOOLS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/tools/*.c)
foreach(src ${SP_TOOLS})
  get_filename_component(name ${src} NAME_WE)
  add_executable(${name} ${src})
  target_include_directories(${name} PRIVATE src tests)
  target_link_libraries(${name} PRIVATE sparsity)
endforeach()

# Python reference tests (NumPy, gguf, tokenizers): tests/py/test_*.py, one ctest per file.
find_program(PYTHON3 python3)
file(GLOB SP_PYTESTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/py/test_*.py)
foreach(src ${SP_PYTESTS})
  get_filename_component(name ${src} NAME_WE)
  add_test(NAME py_${name} COMMAND ${PYTHON3} -m pytest -q -x ${src})
  set_tests_properties(py_${name} PROPERTIES
    ENVIRONMENT "SP_BIN=${CMAKE_BINARY_DIR};SP_ASSETS=${CMAKE_SOURCE_DIR}/assets;SP_ROOT=${CMAKE_SOURCE_DIR}"
    SKIP_RETURN_CODE 5)
endforeach()

# The wgmma.sp GEMM's machine code reads its accumulators only after the final wait
# (tests/check_wgmma_sass.py says why); needs cuobjdump, skipped without it.
if(SP_CUDA_BUILT)
  add_test(NAME sass_wgmma_order COMMAND ${PYTHON3} ${CMAKE_SOURCE_DIR}/tests/check_wgmma_sass.py
           $<TARGET_FILE:sparsity_cuda>)
  set_tests_properties(sass_wgmma_order PROPERTIES SKIP_RETURN_CODE 77)
endif()
