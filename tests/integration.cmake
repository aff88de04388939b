# The real binaries over loopback (tests/integration/server_test.py).
add_test(NAME server_integration
  COMMAND python3 ${CMAKE_SOURCE_DIR}/tests/integration/server_test.py ${CMAKE_BINARY_DIR})
set_tests_properties(server_integration PROPERTIES LABELS "integration" TIMEOUT 600)
# swctl node|profile editing, reload and incremental overlay build (tests/integration/node_cli_test.py).
add_test(NAME node_cli
  COMMAND python3 ${CMAKE_SOURCE_DIR}/tests/integration/node_cli_test.py ${CMAKE_BINARY_DIR})
set_tests_properties(node_cli PROPERTIES LABELS "integration" TIMEOUT 300)
# swctl power with a fake ipmitool (tests/integration/power_test.py).
add_test(NAME power_cli
  COMMAND python3 ${CMAKE_SOURCE_DIR}/tests/integration/power_test.py ${CMAKE_BINARY_DIR})
set_tests_properties(power_cli PROPERTIES LABELS "integration" TIMEOUT 120)
# wwclient provision (two-stage boot) against stormwulfd (tests/integration/provision_test.py).
add_test(NAME provision
  COMMAND python3 ${CMAKE_SOURCE_DIR}/tests/integration/provision_test.py ${CMAKE_BINARY_DIR})
set_tests_properties(provision PROPERTIES LABELS "integration" TIMEOUT 300)
# TLS on its own listener, 403/401 refusals, wwclient over https (tests/integration/tls_test.py).
add_test(NAME tls
  COMMAND python3 ${CMAKE_SOURCE_DIR}/tests/integration/tls_test.py ${CMAKE_BINARY_DIR})
set_tests_properties(tls PROPERTIES LABELS "integration" TIMEOUT 300)
# A full disk (a small tmpfs the test mounts) during import and overlay build commits nothing
# (tests/integration/enospc_test.py).
add_test(NAME enospc
  COMMAND python3 ${CMAKE_SOURCE_DIR}/tests/integration/enospc_test.py ${CMAKE_BINARY_DIR})
set_tests_properties(enospc PROPERTIES LABELS "integration" TIMEOUT 300)
# swctl overlay build --watch against a running stormwulfd (tests/integration/overlay_watch_test.py).
add_test(NAME overlay_watch
  COMMAND python3 ${CMAKE_SOURCE_DIR}/tests/integration/overlay_watch_test.py ${CMAKE_BINARY_DIR})
set_tests_properties(overlay_watch PROPERTIES LABELS "integration" TIMEOUT 180)
