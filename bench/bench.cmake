# Layer micro-benchmark: bench/bench_layers.c -> bench_layers (not a test).
add_executable(bench_layers ${CMAKE_SOURCE_DIR}/bench/bench_layers.c)
target_include_directories(bench_layers PRIVATE src ${CBLAS_INCLUDE})
target_link_libraries(bench_layers PRIVATE sparsity)
