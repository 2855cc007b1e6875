# Warnings, sanitizers and ccache for every target of the project.
add_library(cellrouter_options INTERFACE)
target_compile_options(cellrouter_options INTERFACE -Wall -Wextra -Wpedantic -Wno-unused-parameter)
# string_view interop between Beast and the standard library; no deprecated Asio names.
target_compile_definitions(cellrouter_options INTERFACE
  BOOST_ASIO_NO_DEPRECATED BOOST_BEAST_USE_STD_STRING_VIEW)

set(CELLROUTER_SANITIZE "" CACHE STRING "Sanitizers to build with, e.g. address,undefined")
if(CELLROUTER_SANITIZE)
  # -g1 (after RelWithDebInfo's -g, so it wins): the line tables are all a sanitizer's stack
  # trace needs, and the full debug info of Asio and Beast templates costs a quarter of the
  # compile time.
  target_compile_options(cellrouter_options INTERFACE -fsanitize=${CELLROUTER_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all -g1)
  target_link_options(cellrouter_options INTERFACE -fsanitize=${CELLROUTER_SANITIZE})
endif()

find_program(CCACHE_PROGRAM ccache)
if(CCACHE_PROGRAM)
  set(CMAKE_CXX_COMPILER_LAUNCHER "${CCACHE_PROGRAM}")
endif()
