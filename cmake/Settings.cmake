# Settings shared by every target, as INTERFACE libraries (link, don't copy).

add_library(pb_settings INTERFACE)
target_compile_features(pb_settings INTERFACE cxx_std_20)
target_include_directories(pb_settings INTERFACE ${PROJECT_SOURCE_DIR})
target_compile_definitions(pb_settings INTERFACE
  PB_VERSION="${PROJECT_VERSION}"
  BOOST_ASIO_NO_DEPRECATED
  $<$<BOOL:${PB_FAULT_INJECTION}>:PB_FAULT_INJECTION=1>)

add_library(pb_warnings INTERFACE)
target_compile_options(pb_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wnon-virtual-dtor -Wshadow -Wcast-align
  -Wunused -Woverloaded-virtual -Wformat=2
  $<$<BOOL:${PB_WERROR}>:-Werror>)

if(PB_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()
if(PB_TSAN)
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  add_link_options(-fsanitize=thread)
endif()
if(PB_COVERAGE)
  add_compile_options(--coverage -O0)
  add_link_options(--coverage)
endif()
