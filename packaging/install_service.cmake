# Install-time part of packaging/CMakeLists.txt: the systemd unit and the env file, whose
# paths depend on the prefix the install is given (`cmake --install --prefix`, or CPack's
# /usr), not the configure-time one. The unit names zkvd and the env files by absolute path.
# In: ZKV_SOURCE_DIR (packaging/), ZKV_WORK_DIR, ZKV_SBINDIR, ZKV_SYSCONFDIR, ZKV_UNIT_DIR
# (GNUInstallDirs-style: relative to the prefix, or absolute).
include("${ZKV_SOURCE_DIR}/install_dirs.cmake")

zkv_absolute(ZKV_FULL_SBINDIR "${ZKV_SBINDIR}")
# As GNUInstallDirs does: the prefix /usr keeps its configuration in /etc.
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr" AND NOT IS_ABSOLUTE "${ZKV_SYSCONFDIR}")
  set(ZKV_SYSCONFDIR "/etc")
endif()
zkv_absolute(ZKV_FULL_SYSCONFDIR "${ZKV_SYSCONFDIR}")
zkv_absolute(ZKV_FULL_UNIT_DIR "${ZKV_UNIT_DIR}")

configure_file("${ZKV_SOURCE_DIR}/zkvd@.service.in" "${ZKV_WORK_DIR}/zkvd@.service" @ONLY)
file(INSTALL "${ZKV_WORK_DIR}/zkvd@.service" DESTINATION "${ZKV_FULL_UNIT_DIR}"
     FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)

# An env file already there is the administrator's: kept (dpkg does the same for the
# package's conffile, asking first).
if(EXISTS "$ENV{DESTDIR}${ZKV_FULL_SYSCONFDIR}/zkv/zkvd.env")
  message(STATUS "Kept: $ENV{DESTDIR}${ZKV_FULL_SYSCONFDIR}/zkv/zkvd.env")
else()
  file(INSTALL "${ZKV_SOURCE_DIR}/zkvd.env" DESTINATION "${ZKV_FULL_SYSCONFDIR}/zkv"
       FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
endif()
