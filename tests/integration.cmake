# Each test runs tests/integration/<script> against the binaries in the build directory.
function(sw_integration_test name script timeout)
  add_test(NAME ${name}
    COMMAND python3 ${CMAKE_SOURCE_DIR}/tests/integration/${script} ${CMAKE_BINARY_DIR})
  set_tests_properties(${name} PROPERTIES LABELS "integration" TIMEOUT ${timeout})
endfunction()

# The real binaries over loopback.
sw_integration_test(server_integration server_test.py 600)
# swctl node|profile editing, reload and incremental overlay build.
sw_integration_test(node_cli node_cli_test.py 300)
# swctl power with a fake ipmitool.
sw_integration_test(power_cli power_test.py 120)
# wwclient provision (two-stage boot) against stormwulfd.
sw_integration_test(provision provision_test.py 300)
# TLS on its own listener, 403/401 refusals, wwclient over https.
sw_integration_test(tls tls_test.py 300)
# A full disk (a small tmpfs the test mounts) during import and overlay build commits nothing.
sw_integration_test(enospc enospc_test.py 300)
# swctl overlay build --watch against a running stormwulfd.
sw_integration_test(overlay_watch overlay_watch_test.py 180)
