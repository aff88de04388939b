# Chunk store micro-benchmarks (Google Benchmark): segmenter, XXH3, SHA-256, zstd, manifests.
if(SW_BENCH)
  add_executable(chunkstore_bench ${CMAKE_CURRENT_SOURCE_DIR}/chunkstore_bench.cc)
  target_link_libraries(chunkstore_bench PRIVATE sw_chunkstore benchmark::benchmark Threads::Threads)
  # Every micro-benchmark runs in CI in a short mode so none of them rots.
  foreach(b chunkstore_bench http_bench tmpl_bench)
    add_test(NAME ${b}_smoke COMMAND ${b} --benchmark_min_time=0.005)
    set_tests_properties(${b}_smoke PROPERTIES LABELS "unit" TIMEOUT 300)
  endforeach()
endif()
