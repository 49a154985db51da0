# CPack pre-build check (CPACK_PRE_BUILD_SCRIPTS): a .deb is made only from a build configured
# for the prefix /usr and without sanitizers. Another prefix would put the env file in
# /usr/etc and the unit's paths elsewhere; a sanitized zkvd must never be installed.
if(CPACK_ZKV_SANITIZED)
  message(FATAL_ERROR "zkv: this build has ZKV_SANITIZE or ZKV_TSAN on; package from a build "
                      "without them (scripts/package.sh)")
endif()
if(NOT CPACK_ZKV_INSTALL_PREFIX STREQUAL "/usr")
  message(FATAL_ERROR "zkv: this build is configured for ${CPACK_ZKV_INSTALL_PREFIX}; a .deb "
                      "needs -DCMAKE_INSTALL_PREFIX=/usr (scripts/package.sh)")
endif()
