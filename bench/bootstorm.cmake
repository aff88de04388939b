# bootstorm: the mass-reboot benchmark (owner: "bootstorm" helper). See docs/bench/bootstorm.md.
add_library(sw_bootstorm STATIC ${CMAKE_CURRENT_LIST_DIR}/bootstorm_ipxe.cc
  ${CMAKE_CURRENT_LIST_DIR}/bootstorm_http.cc)
target_include_directories(sw_bootstorm PUBLIC ${CMAKE_SOURCE_DIR})
target_link_libraries(sw_bootstorm PUBLIC sw_common)

add_executable(bootstorm ${CMAKE_CURRENT_LIST_DIR}/bootstorm.cc)
target_link_libraries(bootstorm PRIVATE sw_bootstorm sw_common)
