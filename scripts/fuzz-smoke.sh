#!/usr/bin/env bash
# Fuzz smoke test: build every cargo-fuzz target of every crate (crates/*/fuzz)
# and run each one briefly. Fails if a target does not build or finds a crash.
#
#   scripts/fuzz-smoke.sh            # all crates, all targets
#   scripts/fuzz-smoke.sh senml      # only crates/senml/fuzz
#
# Environment:
#   FUZZ_RUNS=20000        most inputs per target
#   FUZZ_SECONDS=20        most seconds per target
#   FUZZ_SANITIZER=none    or "address" (see below)
#   FUZZ_TARGET_DIR=...    build directory (default: target/fuzz in the checkout)
#   CARGO_BUILD_JOBS       build parallelism (default 1: the machines are small)
#
# Why these flags, on a machine with only the stable toolchain:
# cargo-fuzz is built for nightly. By default it adds `-Zsanitizer=address` to
# RUSTFLAGS, and stable rustc refuses every `-Z` flag ("the option `Z` is only
# accepted on the nightly compiler"). The coverage instrumentation libFuzzer needs
# (`-Cpasses=sancov-module`, `-Cllvm-args=-sanitizer-coverage-*`) is made of stable
# `-C` flags, so `--sanitizer none` builds and fuzzs on stable as it is. Our crates
# are safe Rust, where AddressSanitizer adds little: panics, overflows (debug
# assertions are on) and aborts are what we hunt. FUZZ_SANITIZER=address turns ASan
# back on; on stable that needs RUSTC_BOOTSTRAP=1, which tells stable rustc to
# accept unstable flags. The script sets it only in that case, and only for the
# cargo-fuzz commands.
#
# Seeds: if a fuzz folder has a `seeds/` directory (the crates link public test
# vectors there), libFuzzer reads it as an extra corpus; new inputs go to a
# temporary corpus, so a run leaves the checkout clean. A crash input is kept in
# <crate>/fuzz/artifacts/<target>/ for reproduction with `cargo fuzz run <target> <file>`.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
runs="${FUZZ_RUNS:-20000}"
seconds="${FUZZ_SECONDS:-20}"
sanitizer="${FUZZ_SANITIZER:-none}"
target_dir="${FUZZ_TARGET_DIR:-$root/target/fuzz}"
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz-smoke: cargo-fuzz is missing; installing it"
    cargo install --locked cargo-fuzz
fi

fuzz_env=()
case "$sanitizer" in
    none) ;;
    address | leak | memory | thread) fuzz_env=(RUSTC_BOOTSTRAP=1) ;;
    *)
        echo "fuzz-smoke: unknown FUZZ_SANITIZER=$sanitizer" >&2
        exit 2
        ;;
esac

only="${1:-}"
failed=()
ran=0
for fuzz_dir in "$root"/crates/*/fuzz; do
    [ -f "$fuzz_dir/Cargo.toml" ] || continue
    crate="$(basename "$(dirname "$fuzz_dir")")"
    if [ -n "$only" ] && [ "$crate" != "$only" ]; then
        continue
    fi
    common=(--fuzz-dir "$fuzz_dir" --sanitizer "$sanitizer" --target-dir "$target_dir/$sanitizer")
    mapfile -t targets < <(cd "$fuzz_dir/.." && cargo fuzz list --fuzz-dir "$fuzz_dir")
    if [ "${#targets[@]}" -eq 0 ]; then
        echo "fuzz-smoke: $crate: no fuzz targets" >&2
        failed+=("$crate (no targets)")
        continue
    fi
    for target in "${targets[@]}"; do
        echo "=== fuzz-smoke: $crate/$target: up to $runs runs or ${seconds}s (sanitizer: $sanitizer)"
        corpus="$(mktemp -d)"
        seeds=()
        [ -d "$fuzz_dir/seeds" ] && seeds=("$fuzz_dir/seeds")
        if (cd "$fuzz_dir/.." && env "${fuzz_env[@]}" cargo fuzz run "${common[@]}" "$target" \
            "$corpus" "${seeds[@]}" -- -runs="$runs" -max_total_time="$seconds" -print_final_stats=1); then
            ran=$((ran + 1))
        else
            failed+=("$crate/$target")
        fi
        rm -rf "$corpus"
    done
done

if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzz-smoke: FAILED: ${failed[*]}" >&2
    exit 1
fi
if [ "$ran" -eq 0 ]; then
    echo "fuzz-smoke: no fuzz target found under crates/*/fuzz${only:+ for $only}" >&2
    exit 1
fi
echo "fuzz-smoke: $ran targets ran without a crash"
