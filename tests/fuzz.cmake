# HTTP head parser fuzzing: the corpus replay runs in every build; the libFuzzer target and its
# 30-second smoke run only with -DSW_FUZZ=ON and clang (scripts/test.sh does that build).
add_executable(http_parser_fuzz_replay ${CMAKE_SOURCE_DIR}/tests/fuzz/http_parser_fuzz.cc
  ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_replay.cc ${CMAKE_SOURCE_DIR}/server/http_parser.cc
  ${CMAKE_SOURCE_DIR}/server/http_types.cc)
target_include_directories(http_parser_fuzz_replay PRIVATE ${CMAKE_SOURCE_DIR})
add_test(NAME http_parser_fuzz_replay COMMAND http_parser_fuzz_replay
  ${CMAKE_SOURCE_DIR}/tests/fuzz/corpus/http)
set_tests_properties(http_parser_fuzz_replay PROPERTIES LABELS "unit")

if(SW_FUZZ AND CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  add_executable(http_parser_fuzz ${CMAKE_SOURCE_DIR}/tests/fuzz/http_parser_fuzz.cc
    ${CMAKE_SOURCE_DIR}/server/http_parser.cc ${CMAKE_SOURCE_DIR}/server/http_types.cc)
  target_include_directories(http_parser_fuzz PRIVATE ${CMAKE_SOURCE_DIR})
  target_compile_options(http_parser_fuzz PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_options(http_parser_fuzz PRIVATE -fsanitize=fuzzer,address,undefined)
  file(MAKE_DIRECTORY ${CMAKE_BINARY_DIR}/http_fuzz_corpus)
  add_test(NAME fuzz_http_parser_smoke COMMAND http_parser_fuzz -max_total_time=30 -max_len=4096
    ${CMAKE_BINARY_DIR}/http_fuzz_corpus ${CMAKE_SOURCE_DIR}/tests/fuzz/corpus/http)
  set_tests_properties(fuzz_http_parser_smoke PROPERTIES LABELS "slow" TIMEOUT 120)
endif()
