# Every dependency is a Debian 12 package; a missing one stops configuration
# with the package to install (tests/run.sh installs them all).
find_package(PkgConfig REQUIRED)

macro(clippo_require_pkg var module package)
  pkg_check_modules(${var} IMPORTED_TARGET ${module})
  if(NOT ${var}_FOUND)
    message(FATAL_ERROR "clippo needs ${module}: apt-get install ${package}")
  endif()
endmacro()

clippo_require_pkg(ARCHIVE libarchive libarchive-dev)
clippo_require_pkg(ZSTD libzstd libzstd-dev)
clippo_require_pkg(LIBZIP libzip libzip-dev)
clippo_require_pkg(SIMDJSON simdjson libsimdjson-dev)
clippo_require_pkg(FMT fmt libfmt-dev)
# SHA-256 of checkpoints at hardware speed (SHA-NI).
clippo_require_pkg(CRYPTO libcrypto libssl-dev)
# Image codecs used directly (OpenCV is only for resizing).
clippo_require_pkg(JPEG libjpeg libjpeg62-turbo-dev)
clippo_require_pkg(PNG libpng libpng-dev)
clippo_require_pkg(WEBP libwebp libwebp-dev)

find_package(Boost COMPONENTS program_options QUIET)
if(NOT Boost_PROGRAM_OPTIONS_FOUND)
  message(FATAL_ERROR "clippo needs Boost.ProgramOptions: apt-get install libboost-program-options-dev")
endif()

find_package(OpenCV QUIET COMPONENTS core imgproc)
if(NOT OpenCV_FOUND)
  message(FATAL_ERROR "clippo needs OpenCV: apt-get install libopencv-dev")
endif()

find_package(Threads REQUIRED)

# libtorch: Debian's libtorch-dev, or any libtorch >= 1.13 (CUDA builds
# included) through CMAKE_PREFIX_PATH.
find_package(Torch QUIET)
if(NOT Torch_FOUND)
  message(FATAL_ERROR "clippo needs libtorch: apt-get install libtorch-dev (or set CMAKE_PREFIX_PATH to a libtorch)")
endif()

# faiss-config.cmake links OpenMP::OpenMP_CXX without finding OpenMP itself.
find_package(OpenMP QUIET)
find_package(faiss QUIET)
if(NOT faiss_FOUND)
  message(FATAL_ERROR "clippo needs FAISS: apt-get install libfaiss-dev")
endif()

# libtorch's ProcessGroupGloo.hpp (clippo-train's multi-process training)
# includes Gloo's headers, which Debian ships apart from libtorch-dev.
find_path(GLOO_INCLUDE_DIR gloo/algorithm.h)
if(NOT GLOO_INCLUDE_DIR)
  message(FATAL_ERROR "clippo needs Gloo's headers: apt-get install libgloo-dev")
endif()
