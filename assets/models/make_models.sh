#!/usr/bin/env bash
# How the shipped models were made. Usage: bash assets/models/make_models.sh [OUT_DIR]
#
# The two main models (the defaults of the dashboard and of `reproduce`) were trained on one NVIDIA
# H200 with these commands (about 2 minutes each there; about 6 minutes each on 2 CPU cores).
# The sweep's six models were trained on 2 CPU cores by the sweep itself, all with the same budget
# (3000 steps x 64 problems) so that they compare fairly; the four single-density models train
# together, vmapped (`core.fit_many`).
set -euo pipefail
out=${1:-assets/models}
train() { name=$1; shift; python3 -m core train --out "$out/$name.eqx" --force "$@"; }
train fourdvarnet_attractor_every5 --preset attractor --obs-every 5 --steps 3000 --batch-size 128
train fourdvarnet_seed_every5 --preset seed --obs-every 5 --steps 3000 --batch-size 128
python3 -m core sweep --retrain --steps 3000 --n-problems 256 --save-dir "$out/sweep" --force --json >"$out/sweep/results.json"
