#!/usr/bin/env bash
# The GPU checks, in one run on a CUDA machine that has PyTorch (pip) but
# none of clippo's Debian packages: builds clippo against that libtorch with
# the dependency kit (tests/device/make-kit.sh, made beforehand on Debian and
# carried as .devkit/), runs the whole test suite (its CUDA cases switch on by
# themselves where a GPU is visible) and the GPU figures. Logs go to $OUT.
#   tests/device/run.sh [build] [test] [bench]     (default: all three)
# CLIPPO_TORCH_PREFIX: the libtorch to build against (default: python3's torch).
# CLIPPO_EXTRA_FLAGS: added to compiling and linking (e.g. -fsanitize=address -g1).
# CLIPPO_BUILD_TARGETS: what to build (default: everything).
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/clippo-device}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/device.log") 2>&1
stages=${*:-build test bench}
arch=x86_64-linux-gnu
build=${CLIPPO_BUILD_DIR:-build-device}
jobs=$(nproc)
stage() { echo "== $(date +%T) $*"; }
has() { [[ " $stages " == *" $1 "* ]]; }

stage machine
nvidia-smi -L 2>/dev/null || echo "no nvidia-smi"
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "gpus", torch.cuda.device_count())'
g++ --version | head -1; cmake --version | head -1; echo "cores $jobs"

kit=/tmp/clippo-kit/kit
if has build; then
  stage "kit: unpack"
  [ -f .devkit/kit.tar.xz ] || { echo "no .devkit/kit.tar.xz: run tests/device/make-kit.sh first and carry .devkit"; exit 1; }
  rm -rf /tmp/clippo-kit
  python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2], filter="tar")' .devkit/kit.tar.xz /tmp/clippo-kit || exit 1
  # The kit's programs run with the kit's libraries; pkgconf reads the kit's
  # .pc files as if the kit were /.
  mkdir -p "$kit/usr/bin"
  for prog in pkgconf zstd; do
    printf '#!/bin/sh\nLD_LIBRARY_PATH=%s exec %s "$@"\n' "$kit/usr/lib/$arch" "$kit/usr/libexec/$prog" >"$kit/usr/bin/$prog"
  done
  printf '#!/bin/sh\nexport PKG_CONFIG_SYSROOT_DIR=%s PKG_CONFIG_LIBDIR=%s PKG_CONFIG_SYSTEM_INCLUDE_PATH=/none PKG_CONFIG_SYSTEM_LIBRARY_PATH=/none\nexec %s "$@"\n' \
    "$kit" "$kit/usr/lib/$arch/pkgconfig:$kit/usr/share/pkgconfig" "$kit/usr/bin/pkgconf" >"$kit/usr/bin/pkg-config"
  chmod +x "$kit"/usr/bin/*
  # clippo's default font path (a bare, disposable machine: root may write it).
  [ -e /usr/share/unifont/unifont.hex ] || { mkdir -p /usr/share/unifont && cp "$kit/usr/share/unifont/unifont.hex" /usr/share/unifont/; }
  # H100 and H200 are sm_90: Torch's CMake config need not compile a probe to find out.
  export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0}
  torch_prefix=${CLIPPO_TORCH_PREFIX:-$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')}
  stage "configure against $torch_prefix"
  gen=(); command -v ninja >/dev/null && gen=(-G Ninja)
  # RPATH (not RUNPATH) so the kit's libraries also serve its libraries' needs.
  cmake -S . -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_PREFIX_PATH="$kit/usr;$torch_prefix" -DPKG_CONFIG_EXECUTABLE="$kit/usr/bin/pkg-config" \
    -DCMAKE_CXX_FLAGS="-isystem $kit/usr/include/$arch ${CLIPPO_EXTRA_FLAGS:-}" \
    -DCMAKE_EXE_LINKER_FLAGS="${CLIPPO_EXTRA_FLAGS:-} -Wl,--disable-new-dtags -Wl,-rpath,$kit/usr/lib/$arch -Wl,-rpath-link,$kit/usr/lib/$arch" \
    2>&1 | tee "$OUT/configure.log" | grep -E "^-- (fmt|NCCL|Gloo)|Error|error|Warning" 
  [ "${PIPESTATUS[0]}" = 0 ] || { echo "configure failed (configure.log)"; exit 1; }
  stage build
  # Keep going past a failed target: one device run should report every
  # failure, and the tests of whatever did build still run.
  keep_going=(-k 0); [ ${#gen[@]} = 0 ] && keep_going=(-k)
  targets=(); for t in ${CLIPPO_BUILD_TARGETS:-}; do targets+=(--target "$t"); done
  cmake --build "$build" -j "$jobs" "${targets[@]}" -- "${keep_going[@]}" >"$OUT/build.log" 2>&1 ||
    { echo "build FAILED (build.log):"; grep -E "error|Error" "$OUT/build.log" | head -40; }
  [ -x "$build/tools/clippo-train" ] && "$build/tools/clippo-train" --version
fi

if has test; then
  export CLIPPO_PYTHON=${CLIPPO_PYTHON:-python3}
  command -v zstd >/dev/null || export PATH="$kit/usr/bin:$PATH"
  # The tests with CUDA cases first, so a run cut short by the time limit
  # still has their verdicts; then the rest (the man pages' check only where
  # man is installed: a bare CUDA image may lack it).
  cuda_tests='^(unit_torch|unit_torch_search|cli_train|cli_embed|cli_knn_device)$'
  skip=$cuda_tests; command -v man >/dev/null || { skip="$skip|^cli_docs$"; echo "no man: cli_docs not run"; }
  : >"$OUT/ctest.log"
  for part in "-R $cuda_tests" "-LE bench -E $skip"; do
    stage "tests (ctest $part)"
    # shellcheck disable=SC2086  # $part is two ctest options
    (cd "$build" && ctest $part -j 8 --timeout 240 --output-on-failure >>"$OUT/ctest.log" 2>&1)
    echo "ctest exit $?"
  done
  grep -E "tests passed|Test +#|\*\*\*" "$OUT/ctest.log"
  # A crash ends a Catch binary at the crashing case: run every case of a
  # crashed binary alone, so one run still gives each case's verdict, and
  # record which library each BLAS symbol a crashing case uses binds to
  # (a second BLAS in the process can interpose libtorch's).
  for pair in unit:unit_tests unit_search:unit_tests_search unit_torch:unit_tests_torch unit_torch_search:unit_tests_torch_search; do
    bin=${pair#*:}
    grep -qE ": ${pair%%:*} \.+\*\*\*Exception" "$OUT/ctest.log" || continue
    "$build/tests/$bin" --list-test-names-only 2>/dev/null | grep -v '^$' | while IFS= read -r name; do
      name=$(printf '%s' "$name" | sed 's/[],[]/\\&/g')  # Catch reads , and [ ] in a name as syntax
      (cd "$build/tests" && timeout 240 "./$bin" "$name" >/dev/null 2>&1); rc=$?
      [ $rc = 0 ] && continue
      echo "$bin: exit $rc: $name"
      [ $rc -ge 128 ] || continue
      (cd "$build/tests" && LD_DEBUG=bindings LD_DEBUG_OUTPUT=/tmp/clippo-bind timeout 240 "./$bin" "$name" >/dev/null 2>&1)
      cat /tmp/clippo-bind.* 2>/dev/null | grep -E "symbol .(cblas_|[sdcz](gemm|gemv|dot|axpy|scal|nrm2)|xerbla|openblas)" |
        awk '{print $4, "->", $7, $NF}' | sort | uniq -c | sort -rn | head -20
      rm -f /tmp/clippo-bind.*
    done
  done
fi

if has bench; then
  stage "bench: GPU embedding throughput"
  tests/device/gpu_bench.sh "$build" 2>&1 | tee "$OUT/gpu_bench.log"
fi
stage done
