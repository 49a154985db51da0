# cmake -DTOOL=... -DARGS=a|b|c -DEXPECT=code [-DOUTPUT=regex] -P expect_exit.cmake
# Passes only when the tool exits with exactly EXPECT and its output matches.
string(REPLACE "|" ";" args "${ARGS}")
execute_process(COMMAND ${TOOL} ${args}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("${out}${err}")
if(NOT rc STREQUAL "${EXPECT}")
  message(FATAL_ERROR "expected exit code ${EXPECT}, got '${rc}'")
endif()
if(DEFINED OUTPUT AND NOT OUTPUT STREQUAL "")
  string(REGEX REPLACE "\n" " " flat "${out}${err}")
  if(NOT flat MATCHES "${OUTPUT}")
    message(FATAL_ERROR "output does not match: ${OUTPUT}")
  endif()
endif()
