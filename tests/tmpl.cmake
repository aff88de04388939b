# Owner: "tmpl" helper. Differential test of tmpl/ against Go's text/template, and the parser
# fuzz target.

# The Go oracle (tests/gotmpl) is built offline: GOPATH mode, no proxy, cache in the build dir.
# With Debian's golang-github-masterminds-sprig-dev installed, the real Sprig is used (-tags
# sprig); without it the Sprig corpus files are skipped.
find_program(SW_GO go)
if(SW_GO)
  set(TMPL_ORACLE ${CMAKE_BINARY_DIR}/tests/gotmpl/gotmpl)
  file(GLOB TMPL_ORACLE_SRCS ${CMAKE_SOURCE_DIR}/tests/gotmpl/*.go)
  set(TMPL_GO_TAGS "")
  if(EXISTS /usr/share/gocode/src/github.com/Masterminds/sprig/functions.go)
    set(TMPL_GO_TAGS -tags sprig)
  endif()
  add_custom_command(
    OUTPUT ${TMPL_ORACLE}
    COMMAND ${CMAKE_COMMAND} -E env GO111MODULE=off GOPATH=/usr/share/gocode GOPROXY=off
      GOFLAGS= GOCACHE=${CMAKE_BINARY_DIR}/tests/gotmpl/gocache
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
