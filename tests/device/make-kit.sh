#!/usr/bin/env bash
# Packs what a GPU machine without Debian's packages needs to build clippo
# against its own (CUDA) libtorch: the headers, shared libraries, CMake and
# pkg-config files of clippo's Debian dependencies, and pkgconf itself, laid
# out as a sysroot (usr/include, usr/lib/x86_64-linux-gnu). Run here after
# tests/run.sh has installed the packages; tests/device/run.sh unpacks it.
#   tests/device/make-kit.sh [OUT]   (default .devkit/kit.tar.xz, git-ignored)
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-.devkit/kit.tar.xz}
arch=x86_64-linux-gnu
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root=$stage/kit

# Every header and CMake/pkg-config file of these packages (Boost: only the
# program_options closure, found by the compiler below).
pkgs="libarchive-dev libzstd-dev libzip-dev libsimdjson-dev libfmt-dev libssl-dev libjpeg62-turbo-dev
      libpng-dev libwebp-dev libopencv-core-dev libopencv-imgproc-dev libfaiss-dev libblas-dev
      libopenblas0-pthread libopenblas-pthread-dev zlib1g-dev catch2 libboost-program-options1.74-dev"
for p in $pkgs; do
  dpkg -L "$p" 2>/dev/null | grep -E '^/usr/((include|lib/('$arch'/)?(cmake|pkgconfig)|share/(pkgconfig|cmake|Catch2))/|lib/libCatch2)' || true
done | while read -r f; do
  [ -f "$f" ] || continue
  mkdir -p "$root$(dirname "$f")" && cp -L "$f" "$root$f"
done
# Boost: the headers a translation unit using program_options reads.
echo '#include <boost/program_options.hpp>' | g++ -std=c++20 -x c++ -M - | tr ' \\' '\n\n' |
  grep '^/usr/include/boost/' | sort -u | while read -r f; do
  mkdir -p "$root$(dirname "$f")" && cp -L "$f" "$root$f"
done
cp -rL /usr/lib/$arch/cmake/Boost-* /usr/lib/$arch/cmake/boost_headers-* /usr/lib/$arch/cmake/boost_program_options-* \
  /usr/lib/$arch/cmake/BoostDetectToolset-* "$root/usr/lib/$arch/cmake/" 2>/dev/null || true
# cblas.h and lapack's headers sit behind the alternatives system.
for h in cblas.h cblas-openblas.h openblas_config.h f77blas.h; do
  [ -e /usr/include/$arch/$h ] && cp -L /usr/include/$arch/$h "$root/usr/include/$arch/" || true
done

# The shared libraries clippo links and the programs the build and tests run
# (pkgconf for the .pc files, zstd for the tests' shard readers; run.sh wraps
# them), with everything they need minus the C, C++ and OpenMP runtimes that
# come with the machine's compiler; the linker names (libX.so) as symlinks.
libdir=$root/usr/lib/$arch
mkdir -p "$libdir" "$root/usr/libexec" "$root/usr/share/unifont"
direct="libarchive.so.13 libzstd.so.1 libzip.so.4 libsimdjson.so.14 libfmt.so.9 libcrypto.so.3 libjpeg.so.62
        libpng16.so.16 libwebp.so.7 libboost_program_options.so.1.74.0 libopencv_core.so.406
        libopencv_imgproc.so.406 libblas.so.3 liblapack.so.3"
runtime='^(linux-vdso|ld-linux|libc|libm|libpthread|libdl|librt|libstdc\+\+|libgcc_s|libgomp)\.so'
needs() { echo "$1"; ldd "$1" | awk '$3 ~ /^\// {print $3}'; }
{
  for l in $direct; do
    p=$(ldconfig -p | awk -v l="$l" '$1 == l && !n++ {print $NF}')
    [ -n "$p" ] || { echo "make-kit: $l not found (run tests/run.sh first)" >&2; exit 1; }
    needs "$p"
  done
  for prog in pkgconf zstd; do
    cp -L "$(command -v $prog)" "$root/usr/libexec/$prog"
    needs "$(command -v $prog)" | tail -n +2
  done
} | sort -u | while read -r p; do
  name=$(basename "$p")
  [[ $name =~ $runtime ]] && continue
  cp -L "$p" "$libdir/$name"
  ln -sf "$name" "$libdir/${name%%.so*}.so"
done
# Debian's FAISS is a static library.
cp /usr/lib/$arch/libfaiss.a "$libdir/"
# CMake files name /usr/lib/... directly in places (faiss's BLAS): make them
# relative to the kit.
grep -rl "/usr/lib/$arch/" "$root/usr/lib/$arch/cmake" 2>/dev/null | while read -r f; do
  sed -i "s|/usr/lib/$arch/|\${_IMPORT_PREFIX}/lib/$arch/|g" "$f"
done
# Unifont for rendering.
cp /usr/share/unifont/unifont.hex "$root/usr/share/unifont/"

mkdir -p "$(dirname "$out")"
tar -C "$stage" -cJf "$out" kit
echo "make-kit: $out ($(du -h "$out" | cut -f1); $(find "$root" -type f | wc -l) files, $(du -sh "$root" | cut -f1) unpacked)"
