# The real binaries over loopback (tests/integration/server_test.py).
add_test(NAME server_integration
  COMMAND python3 ${CMAKE_SOURCE_DIR}/tests/integration/server_test.py ${CMAKE_BINARY_DIR})
set_tests_properties(server_integration PROPERTIES LABELS "integration" TIMEOUT 600)
