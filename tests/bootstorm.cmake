# bootstorm tests (owner: "bootstorm" helper).
sw_test(bootstorm_test SRCS ${CMAKE_CURRENT_LIST_DIR}/bootstorm/bootstorm_test.cc
  LIBS sw_bootstorm LABEL unit)

# The Go warewulfd stand-in, built offline with Debian's Go (standard library only).
find_program(SW_GO_EXECUTABLE go)
if(SW_GO_EXECUTABLE)
  add_custom_command(OUTPUT ${CMAKE_BINARY_DIR}/bench/gohttp
    COMMAND ${CMAKE_COMMAND} -E env GOPROXY=off GOFLAGS=-mod=mod CGO_ENABLED=0
      GOCACHE=${CMAKE_BINARY_DIR}/.gocache ${SW_GO_EXECUTABLE} build -p 1
      -o ${CMAKE_BINARY_DIR}/bench/gohttp .
    WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}/bench/gohttp
    DEPENDS ${CMAKE_SOURCE_DIR}/bench/gohttp/main.go ${CMAKE_SOURCE_DIR}/bench/gohttp/go.mod
    COMMENT "go build bench/gohttp")
  add_custom_target(bootstorm_gohttp DEPENDS ${CMAKE_BINARY_DIR}/bench/gohttp)
  add_dependencies(bootstorm_test bootstorm_gohttp)
endif()

# 50 nodes against python3 -m http.server and against the Go server (if built): exit code, node
# count, zero errors, bytes per node equal to the file sizes; a non-loopback target is refused.
add_test(NAME bootstorm_smoke
  COMMAND ${CMAKE_CURRENT_LIST_DIR}/bootstorm/smoke.sh ${CMAKE_BINARY_DIR}/bench/bootstorm
    ${CMAKE_BINARY_DIR}/bench/gohttp)
set_tests_properties(bootstorm_smoke PROPERTIES LABELS "integration" TIMEOUT 180)

# Two-stage boot through nginx proxy_cache (bench/proxy_cache_provision.sh, small): 4 nodes boot
# v1 and then v2 of a 4 MB image through the cache; every root must equal the image and v2 must
# cost the origin less than half of v1.
add_test(NAME proxy_cache_provision
  COMMAND ${CMAKE_SOURCE_DIR}/bench/proxy_cache_provision.sh gen:4 ${CMAKE_BINARY_DIR} 4)
set_tests_properties(proxy_cache_provision PROPERTIES LABELS "integration" TIMEOUT 180)
