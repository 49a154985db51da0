# Shared by the install-time scripts (install_service.cmake, install_pkgconfig.cmake): a
# GNUInstallDirs-style directory, relative to the prefix or absolute, made absolute under the
# prefix the install is given (CMAKE_INSTALL_PREFIX at install time: --prefix, or CPack's /usr).
macro(zkv_absolute var path)
  if(IS_ABSOLUTE "${path}")
    set(${var} "${path}")
  else()
    set(${var} "${CMAKE_INSTALL_PREFIX}/${path}")
  endif()
endmacro()
