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
# gzip shards are decoded by clippo itself (io/input_bytes), as zstd ones.
clippo_require_pkg(ZLIB zlib zlib1g-dev)
clippo_require_pkg(LIBZIP libzip libzip-dev)
clippo_require_pkg(SIMDJSON simdjson libsimdjson-dev)
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

# OpenCV: core and imgproc only, found directly (OpenCVConfig.cmake insists
# that every module of the installation exists).
find_path(OpenCV_INCLUDE_DIRS opencv2/imgproc.hpp PATH_SUFFIXES opencv4)
find_library(OPENCV_CORE_LIBRARY opencv_core)
find_library(OPENCV_IMGPROC_LIBRARY opencv_imgproc)
if(NOT OpenCV_INCLUDE_DIRS OR NOT OPENCV_CORE_LIBRARY OR NOT OPENCV_IMGPROC_LIBRARY)
  message(FATAL_ERROR "clippo needs OpenCV's core and imgproc: apt-get install libopencv-imgproc-dev")
endif()
set(OpenCV_LIBS ${OPENCV_IMGPROC_LIBRARY} ${OPENCV_CORE_LIBRARY})

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

# fmt: the system's, unless libtorch ships its own (the pip wheels do): its
# headers come first on every torch target's include path, so then the whole
# program uses that one, header-only, and never mixes two versions.
if(NOT TORCH_INSTALL_PREFIX STREQUAL "/usr" AND EXISTS "${TORCH_INSTALL_PREFIX}/include/fmt/format.h")
  add_library(clippo_fmt INTERFACE)
  target_include_directories(clippo_fmt BEFORE INTERFACE "${TORCH_INSTALL_PREFIX}/include")
  target_compile_definitions(clippo_fmt INTERFACE FMT_HEADER_ONLY=1)
  message(STATUS "fmt: libtorch's own, header-only (${TORCH_INSTALL_PREFIX}/include)")
else()
  clippo_require_pkg(FMT fmt libfmt-dev)
  add_library(clippo_fmt INTERFACE)
  target_link_libraries(clippo_fmt INTERFACE PkgConfig::FMT)
endif()

# Multi-process training: libtorch's ProcessGroupGloo.hpp includes Gloo's
# headers, which Debian ships apart from libtorch-dev (and the pip wheels not
# at all); NCCL where libtorch has CUDA and NCCL's header is found (the pip
# wheels' nvidia-nccl package, or CUDA's include folder).
find_path(GLOO_INCLUDE_DIR gloo/algorithm.h)
set(CLIPPO_DIST_DEFINITIONS "")
if(GLOO_INCLUDE_DIR)
  list(APPEND CLIPPO_DIST_DEFINITIONS CLIPPO_WITH_GLOO)
elseif(NOT TORCH_CUDA_LIBRARIES)
  message(FATAL_ERROR "clippo needs Gloo's headers: apt-get install libgloo-dev")
else()
  message(STATUS "Gloo: headers not found; multi-process training needs NCCL")
endif()
if(TORCH_CUDA_LIBRARIES)
  # The include folders of the pip wheels' nvidia packages, where they exist.
  execute_process(COMMAND python3 -c "import glob, nvidia; print(';'.join(glob.glob(list(nvidia.__path__)[0] + '/**/include', recursive=True)))"
                  OUTPUT_VARIABLE _nvidia_includes OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  find_path(NCCL_INCLUDE_DIR nccl.h HINTS ENV NCCL_ROOT ${_nvidia_includes} ${CUDAToolkit_INCLUDE_DIRS} PATH_SUFFIXES include)
  if(NCCL_INCLUDE_DIR)
    list(APPEND CLIPPO_DIST_DEFINITIONS CLIPPO_WITH_NCCL)
    message(STATUS "NCCL: ${NCCL_INCLUDE_DIR}")
  else()
    message(WARNING "NCCL's header not found (set NCCL_ROOT): multi-process CUDA training goes through Gloo")
  endif()
endif()
if(NOT GLOO_INCLUDE_DIR AND NOT NCCL_INCLUDE_DIR)
  message(WARNING "neither Gloo's nor NCCL's headers found: clippo-train will run single-process only")
endif()
