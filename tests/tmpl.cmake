# Owner: "tmpl" helper. Differential test of tmpl/ against Go's text/template, and the parser
# fuzz target.

# The Go oracle (tests/gotmpl) is built offline: GOPATH mode, no proxy, cache in the build dir.
# With Debian's golang-github-masterminds-sprig-dev installed, the real Sprig is used (-tags
# sprig); without it the Sprig corpus files are skipped.
find_program(SW_GO go)
if(SW_GO)
  set(TMPL_ORACLE ${CMAKE_BINARY_DIR}/tests/gotmpl/gotmpl)
  file(GLOB_RECURSE TMPL_ORACLE_SRCS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/gotmpl/*.go)
  set(TMPL_GO_TAGS "")
  if(EXISTS /usr/share/gocode/src/github.com/Masterminds/sprig/functions.go)
    set(TMPL_GO_TAGS -tags sprig)
  endif()
  add_custom_command(
    OUTPUT ${TMPL_ORACLE}
    COMMAND ${CMAKE_COMMAND} -E env GO111MODULE=off GOPATH=/usr/share/gocode GOPROXY=off
      GOFLAGS= GOENV=off GOTOOLCHAIN=local GOCACHE=${CMAKE_BINARY_DIR}/tests/gotmpl/gocache
      ${SW_GO} build ${TMPL_GO_TAGS} -o ${TMPL_ORACLE} .
    WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}/tests/gotmpl
    DEPENDS ${TMPL_ORACLE_SRCS}
    COMMENT "Building the Go text/template oracle")
  add_custom_target(tmpl_gotmpl ALL DEPENDS ${TMPL_ORACLE})
  add_dependencies(tmpl_difftest tmpl_gotmpl)
  add_test(NAME tmpl_difftest COMMAND tmpl_difftest --oracle ${TMPL_ORACLE}
    --corpus ${CMAKE_SOURCE_DIR}/tests/testdata/tmpl --random 400 --seed 20261124)
  set_tests_properties(tmpl_difftest PROPERTIES LABELS "integration" TIMEOUT 600
    ENVIRONMENT "TZ=UTC")
else()
  message(STATUS "go not found: tmpl_difftest (Go oracle) is not registered")
endif()

# libFuzzer target for the template parser (clang only). The smoke test runs it briefly over the
# corpus; scripts/test.sh runs tests matching 'fuzz.*smoke'.
if(SW_FUZZ AND CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  # The engine's sources are compiled into the target so that they carry coverage instrumentation.
  set(TMPL_FUZZ_SRCS value.cc fmt.cc parse.cc exec.cc builtins.cc json.cc funcs_sprig.cc
    tmpl_parse_fuzz.cc)
  list(TRANSFORM TMPL_FUZZ_SRCS PREPEND ${CMAKE_SOURCE_DIR}/tmpl/)
  add_executable(tmpl_parse_fuzz ${TMPL_FUZZ_SRCS})
  target_compile_options(tmpl_parse_fuzz PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_options(tmpl_parse_fuzz PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_libraries(tmpl_parse_fuzz PRIVATE sw_common OpenSSL::Crypto)
  # New inputs go to the first (build-dir) corpus; the checked-in corpus is read only.
  file(MAKE_DIRECTORY ${CMAKE_BINARY_DIR}/tmpl_fuzz_corpus)
  add_test(NAME tmpl_parse_fuzz_smoke COMMAND tmpl_parse_fuzz -max_total_time=30 -max_len=2048
    -timeout=10 ${CMAKE_BINARY_DIR}/tmpl_fuzz_corpus ${CMAKE_SOURCE_DIR}/tests/testdata/tmpl)
  set_tests_properties(tmpl_parse_fuzz_smoke PROPERTIES LABELS "slow" TIMEOUT 300)
endif()
