# Owner: "httpcore" helper. HTTP engine micro-benchmarks (Google Benchmark).
if(SW_BENCH)
  add_executable(http_bench ${CMAKE_CURRENT_SOURCE_DIR}/http_bench.cc)
  target_link_libraries(http_bench PRIVATE sw_server benchmark::benchmark Threads::Threads)
  target_compile_definitions(http_bench PRIVATE SW_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
endif()
# Zero-copy body sending: copy vs sendfile vs splice over loopback (docs/bench/zerocopy.md).
add_executable(zerocopy_bench ${CMAKE_CURRENT_SOURCE_DIR}/zerocopy_bench.cc)
target_link_libraries(zerocopy_bench PRIVATE Threads::Threads)
