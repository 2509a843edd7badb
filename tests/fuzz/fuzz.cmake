# The fuzz targets of tests/fuzz/, one per parser. With TH_FUZZ=ON (clang) each is a
# libFuzzer binary, fuzz_<name>, run by tests/fuzz/run_all.sh; in every other build the
# same code is linked with replay_main.c. Either way ctest replays the committed seeds
# and every crasher ever found (tests/fuzz/seeds/<name>/, tests/fuzz/regressions/<name>/).

set(TH_FUZZ_DIR ${CMAKE_SOURCE_DIR}/tests/fuzz)
set(TH_FUZZ_NAMES reader query template rule_yaml rule_json)
if(EXISTS ${CMAKE_SOURCE_DIR}/engine/config.c AND EXISTS ${TH_FUZZ_DIR}/fuzz_config.c)
  list(APPEND TH_FUZZ_NAMES config)
endif()
list(APPEND TH_FUZZ_NAMES jscan) # the scanner, tapes and the prefilter against json-c

foreach(name ${TH_FUZZ_NAMES})
  if(name MATCHES "^rule_")
    set(src ${TH_FUZZ_DIR}/fuzz_rule.c)
  else()
    set(src ${TH_FUZZ_DIR}/fuzz_${name}.c)
  endif()
  if(TH_FUZZ)
    add_executable(fuzz_${name} ${src})
    target_link_options(fuzz_${name} PRIVATE -fsanitize=fuzzer)
  else()
    add_executable(fuzz_${name} ${src} ${TH_FUZZ_DIR}/replay_main.c)
  endif()
  target_include_directories(fuzz_${name} PRIVATE ${CMAKE_SOURCE_DIR}/engine ${TH_FUZZ_DIR})
  target_link_libraries(fuzz_${name} PRIVATE trailhound_lib)
  target_compile_definitions(fuzz_${name} PRIVATE
    TH_FUZZ_GEOIP_DIR="${CMAKE_SOURCE_DIR}/tests/geoip")
  if(name STREQUAL "rule_json")
    target_compile_definitions(fuzz_${name} PRIVATE TH_FUZZ_RULE_JSON=1)
  endif()

  set(inputs "")
  foreach(sub seeds regressions)
    if(IS_DIRECTORY ${TH_FUZZ_DIR}/${sub}/${name})
      list(APPEND inputs ${TH_FUZZ_DIR}/${sub}/${name})
    endif()
  endforeach()
  if(inputs AND TH_FUZZ)
    # libFuzzer given directories would fuzz them as corpora: name the files instead.
    set(files "")
    foreach(dir ${inputs})
      file(GLOB found CONFIGURE_DEPENDS ${dir}/*)
      list(APPEND files ${found})
    endforeach()
    add_test(NAME fuzz/${name} COMMAND fuzz_${name} ${files})
  elseif(inputs)
    add_test(NAME fuzz/${name} COMMAND fuzz_${name} ${inputs})
  endif()
endforeach()
