# Install-time part of packaging/CMakeLists.txt: zkv.pc, whose paths are those of the prefix
# the install is given (`cmake --install --prefix`, or CPack's /usr), not the configure-time
# one. Its libdir and includedir are written under ${prefix} when they are under the prefix.
# In: ZKV_SOURCE_DIR (packaging/), ZKV_WORK_DIR, ZKV_VERSION, ZKV_LIBDIR, ZKV_INCLUDEDIR
# (GNUInstallDirs-style: relative to the prefix, or absolute).
include("${ZKV_SOURCE_DIR}/install_dirs.cmake")

# A directory as zkv.pc says it: ${prefix}/DIR, or DIR itself when it is absolute.
macro(zkv_pc_dir var path)
  if(IS_ABSOLUTE "${path}")
    set(${var} "${path}")
  else()
    set(${var} "\${prefix}/${path}")
  endif()
endmacro()

set(ZKV_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
zkv_pc_dir(ZKV_PC_LIBDIR "${ZKV_LIBDIR}")
zkv_pc_dir(ZKV_PC_INCLUDEDIR "${ZKV_INCLUDEDIR}")
zkv_absolute(ZKV_FULL_LIBDIR "${ZKV_LIBDIR}")

configure_file("${ZKV_SOURCE_DIR}/zkv.pc.in" "${ZKV_WORK_DIR}/zkv.pc" @ONLY)
file(INSTALL "${ZKV_WORK_DIR}/zkv.pc" DESTINATION "${ZKV_FULL_LIBDIR}/pkgconfig"
     FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
