#!/usr/bin/env bash
# How the shipped models were made: `bash assets/models/make_models.sh OUT_DIR [extra train flags]`.
# They were trained on one NVIDIA H200 with `--steps 4000 --batch-size 128` (see README); on 2 CPU
# cores the default 600 steps x 64 problems takes about a minute a model.
set -euo pipefail
out=${1:?usage: make_models.sh OUT_DIR [train flags]}
shift
train() { name=$1; shift; python3 -m core train --out "$out/$name.eqx" --force "$@"; }
# The dashboard's and `reproduce`'s defaults.
train fourdvarnet_attractor_every5 --preset attractor --obs-every 5 "$@"
train fourdvarnet_seed_every5 --preset seed --obs-every 5 "$@"
# The generalisation sweep: one model per training density, one on a mix of densities, one on a mix
# of observed components.
for every in 2 10 20; do
    train "fourdvarnet_attractor_every$every" --preset attractor --obs-every "$every" "$@"
done
train fourdvarnet_attractor_mixed_every --preset attractor --obs-every 2,3,4,5,6,8,10,12,15,20,25 "$@"
train fourdvarnet_attractor_mixed_components --preset attractor --obs-every 5 --observed xyz x y z xy xz yz "$@"
