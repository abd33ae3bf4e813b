# memembed_module(NAME SOURCES ... DEPS ...): one static library per module, named memembed_<NAME>,
# with the public headers in include/ and private ones next to the sources.
function(memembed_module name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(memembed_${name} STATIC ${ARG_SOURCES})
  target_include_directories(memembed_${name}
    PUBLIC ${CMAKE_SOURCE_DIR}/include
    PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
  target_link_libraries(memembed_${name} PUBLIC ${ARG_DEPS})
endfunction()

# memembed_test(NAME SOURCES ... DEPS ... [LABELS ...]): one GoogleTest binary per concern.
function(memembed_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gtest_main)
  target_compile_definitions(${name} PRIVATE
    MEMEMBED_SHARED_DIR="${MEMEMBED_SHARED_DIR}"
    MEMEMBED_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
  if(TARGET memembed)
    # Tests that drive the real binary (CLI, HTTP) find it here.
    target_compile_definitions(${name} PRIVATE MEMEMBED_BINARY="$<TARGET_FILE:memembed>")
    add_dependencies(${name} memembed)
  endif()
  target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR}/tests)
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT 900)
endfunction()
