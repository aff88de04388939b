# swctl configure dhcp|tftp with the real dnsmasq in test-made network namespaces.
add_test(NAME dnsmasq_pxe
  COMMAND python3 ${CMAKE_SOURCE_DIR}/tests/integration/dnsmasq_test.py ${CMAKE_BINARY_DIR})
set_tests_properties(dnsmasq_pxe PROPERTIES LABELS "integration" TIMEOUT 120 SKIP_RETURN_CODE 77)
