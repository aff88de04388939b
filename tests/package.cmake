# The .deb packages: built with CPack, checked, installed, run (tests/package_test.sh).
add_test(NAME package_deb COMMAND ${CMAKE_SOURCE_DIR}/tests/package_test.sh ${CMAKE_BINARY_DIR})
set_tests_properties(package_deb PROPERTIES LABELS "integration" TIMEOUT 600 SKIP_RETURN_CODE 77
  RUN_SERIAL TRUE)
