# Owner: "tmpl" helper. Template engine benchmark (Google Benchmark).
if(SW_BENCH)
  add_executable(tmpl_bench ${CMAKE_CURRENT_SOURCE_DIR}/tmpl_bench.cc)
  target_link_libraries(tmpl_bench PRIVATE sw_tmpl benchmark::benchmark Threads::Threads)
endif()
