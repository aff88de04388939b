# Real network boots: QEMU (TCG) + Debian's iPXE ROM through stormwulfd on 127.0.0.1
# (tests/qemu/boot_test.py). Exit code 77 = skipped (no QEMU, ROM, kernel, or not root).
foreach(mode zstd gz unknown overlays kernel live twostage midstorm)
  add_test(NAME qemu_boot_${mode}
    COMMAND python3 ${CMAKE_SOURCE_DIR}/tests/qemu/boot_test.py --build ${CMAKE_BINARY_DIR}
      --mode ${mode})
  set_tests_properties(qemu_boot_${mode} PROPERTIES LABELS "slow" TIMEOUT 300
    SKIP_RETURN_CODE 77)
endforeach()
