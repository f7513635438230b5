#!/usr/bin/env bash
# Builds the WebAssembly engine into build-wasm/dist/ (see README.md, "WebAssembly"):
#   1. installs what is missing (tools/install-deps.sh wasm: Debian's emscripten, Node.js, dpkg-dev, and
#      clang-19 + lld-19 for the relaxed-SIMD kernel module embedded in the engine's JS, engine/wasm_relaxed/);
#   2. fetches utf8proc's source package from Debian into build-wasm/_deps/ (once), with a private apt
#      configuration that leaves the system's apt sources untouched;
#   3. configures with emcmake (once) and builds with cmake; prints the sizes of the .wasm files.
# Idempotent: a second run only lets cmake check that everything is up to date.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh wasm
build=build-wasm
deps=$PWD/$build/_deps/utf8proc
export NODE_PATH=/usr/share/nodejs # emcc's optimiser needs Debian's acorn

if [ ! -f "$deps/src/utf8proc.c" ]; then
  rm -rf "$deps"
  mkdir -p "$deps/apt/lists/partial" "$deps/apt/cache/archives/partial"
  . /etc/os-release
  # the Debian mirror this machine's apt already uses (deb822 .sources or one-line .list), for deb-src
  mirror=$({ awk '/^URIs:/ {print $2}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true
    awk '$1 == "deb" {for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) {print $i; break}}' \
      /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true; } | head -n 1)
  echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${mirror:?no Debian mirror in the apt sources}" \
    "${VERSION_CODENAME:?no VERSION_CODENAME in /etc/os-release} main" >"$deps/apt/sources.list"
  apt_opts=(-q -o "Dir::Etc::SourceList=$deps/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$deps/apt/lists" -o "Dir::Cache=$deps/apt/cache" -o Debug::NoLocking=1
    -o "APT::Sandbox::User=$(id -un)")
  apt-get "${apt_opts[@]}" update >/dev/null
  # the source of the utf8proc the native build links with, so both tokenizers see the same Unicode tables
  version=$(dpkg-query -W -f='${source:Version}' libutf8proc-dev 2>/dev/null || true)
  (cd "$deps" && { apt-get "${apt_opts[@]}" source --download-only "utf8proc${version:+=$version}" ||
    apt-get "${apt_opts[@]}" source --download-only utf8proc; }) >/dev/null
  (cd "$deps" && dpkg-source -x --no-check ./*.dsc src) >/dev/null
fi

if [ ! -f "$build/CMakeCache.txt" ]; then
  emcmake cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DSURLIGNE_BLAS=OFF \
    -DUTF8PROC_SOURCE_DIR="$deps/src" >/dev/null
fi
# -Wpthreads-mem-growth: emcc's warning that JS reads of a growable shared memory are slower; known, wanted
cmake --build "$build" -j"$(nproc)" 2> >(grep -v 'pthreads-mem-growth' >&2)

for f in "$build"/dist/*.wasm "$build"/relaxed/*.wasm; do
  printf 'build-wasm: %-38s %8d bytes, %8d gzipped\n' "$f" "$(stat -c %s "$f")" "$(gzip -9c "$f" | wc -c)"
done
