#!/usr/bin/env bash
# The test command: every test, without and with the GPU features (`cudnn`, which includes `cuda`),
# then the Python package built into .venv (scripts/setup.sh makes it) and its pytest suite. With no
# GPU, the CUDA tests compile the kernels with NVRTC, assemble them with ptxas and run them on the
# host; the tests that need a device print that they were skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
nvrtc_dir=$(bash scripts/cuda-paths.sh nvrtc)
ptxas=$(bash scripts/cuda-paths.sh ptxas)
if [ -n "$nvrtc_dir" ]; then
  export LD_LIBRARY_PATH="$nvrtc_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  # The wheel is there, so the NVRTC compile tests must run rather than skip.
  export CONVEXGAN_REQUIRE_NVRTC=1
fi
[ -n "$ptxas" ] && export CONVEXGAN_PTXAS="$ptxas"
# The library's documentation in every feature set, with no warning (the crate denies missing
# docs). In target/public-api with RUSTC_BOOTSTRAP=1, as tests/public_api.rs builds rustdoc's JSON
# (an unstable output), so that test finds the dependencies already checked.
for features in "" cuda cuda,cudnn; do
  RUSTC_BOOTSTRAP=1 RUSTDOCFLAGS="-D warnings" cargo doc --locked --quiet --no-deps --lib \
    --target-dir target/public-api ${features:+--features "$features"}
done
# The crate as `cargo package` would publish it builds from the packaged files alone. Its own
# target directory: cargo hashes a path package the same wherever it lies, so sharing one would
# let the packaged build script's output (paths into the unpacked copy) stand in for the tree's.
cargo package --locked --allow-dirty --no-verify --quiet
unpacked=$(mktemp -d)
tar -xzf target/package/convexgan-"$(cargo pkgid | sed 's/.*[#@]//')".crate -C "$unpacked"
root=$PWD
(cd "$unpacked"/convexgan-* && cargo check --locked --quiet --target-dir "$root/target/package-check")
rm -rf "$unpacked"
cargo test --release
cargo test --release --features cuda,cudnn
# The Python package, as the README installs it, and its tests (the README's example among them).
venv=.venv/bin/python
[ -x "$venv" ] || { echo "error: .venv is missing; run bash scripts/setup.sh first" >&2; exit 1; }
# maturin's build backend runs the `maturin` executable by name: the one installed in .venv/bin,
# which is on no PATH on a fresh machine.
export PATH="$PWD/.venv/bin:$PATH"
"$venv" -m pip install -q --disable-pip-version-check --no-build-isolation ./python
"$venv" -m pytest -q python/tests
