# Debian packages clippo builds, tests and runs with; sourced by tests/run.sh,
# the benchmarks and examples/quickstart.sh. Installs only what is missing.
CLIPPO_DEPS=(build-essential cmake pkg-config ccache zstd bc
  libtorch-dev libopencv-dev libjpeg62-turbo-dev libpng-dev libwebp-dev libzstd-dev zlib1g-dev libarchive-dev libzip-dev libsimdjson-dev
  libboost-program-options-dev libfmt-dev libssl-dev libfaiss-dev catch2 unifont libopenblas0-pthread
  libgloo-dev
  python3 python3-numpy man-db)
# Only the benchmarks compare against Python peers.
CLIPPO_BENCH_DEPS=(python3-torch python3-torchvision python3-faiss)

# clippo_install_deps [PACKAGE...]: default CLIPPO_DEPS.
clippo_install_deps() {
  local want=("$@") missing=() p
  [ ${#want[@]} -eq 0 ] && want=("${CLIPPO_DEPS[@]}")
  for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing: ${missing[*]}" >&2
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo=sudo
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
}
