#!/usr/bin/env bash
# The main job, for now: builds surligne, converts the project's small random CamemBERT checkpoint
# (tests/fixtures/tiny-hf, Hugging Face layout) to GGUF, and prints the entities of a French sentence.
# The weights are random, so the entities are too: this shows the path from checkpoint to entities.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target surligne
./build/surligne convert tests/fixtures/tiny-hf -o build/tiny.gguf
text="Gérald Darmanin, ministre de la justice, a rendu visite à Nicolas Sarkozy."
echo "$text" | ./build/surligne ner -m build/tiny.gguf --aggregation first
echo "$text" | ./build/surligne ner -m build/tiny.gguf --aggregation first --format ansi
