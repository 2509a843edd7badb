# The test suite, run by ctest: unit tests (one executable per engine file), golden
# fixture cases through the real binary, and CLI tests through the real binary.

# Unit tests: tests/unit/test_<file>.c, linked against the library's internals.
file(GLOB TH_UNIT_TESTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/unit/test_*.c)
foreach(src ${TH_UNIT_TESTS})
  get_filename_component(name ${src} NAME_WE)
  add_executable(${name} ${src})
  target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR}/engine
                                             ${CMAKE_SOURCE_DIR}/tests/unit)
  target_link_libraries(${name} PRIVATE trailhound_lib)
  add_test(NAME unit/${name} COMMAND ${name})
endforeach()

# Golden engine cases: tests/golden/cases/<case>/ with rule(s), input and expected.jsonl.
file(GLOB TH_ENGINE_CASES LIST_DIRECTORIES true CONFIGURE_DEPENDS
     ${CMAKE_SOURCE_DIR}/tests/golden/cases/*)
foreach(dir ${TH_ENGINE_CASES})
  if(IS_DIRECTORY ${dir})
    get_filename_component(name ${dir} NAME)
    add_test(NAME golden/${name}
             COMMAND ${CMAKE_SOURCE_DIR}/tests/golden/run_case.sh $<TARGET_FILE:trailhound> ${dir})
  endif()
endforeach()

# CLI tests: tests/cli/test_*.sh, each given the binary and the source tree.
file(GLOB TH_CLI_TESTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/cli/test_*.sh)
foreach(script ${TH_CLI_TESTS})
  get_filename_component(name ${script} NAME_WE)
  add_test(NAME cli/${name} COMMAND ${script})
  set_tests_properties(cli/${name} PROPERTIES ENVIRONMENT
    "TRAILHOUND=$<TARGET_FILE:trailhound>;TH_SRC=${CMAKE_SOURCE_DIR};GEN_SAMPLE=$<TARGET_FILE:gen_sample>")
endforeach()
