#!/usr/bin/env bash
# How the shipped models were made: `bash assets/models/make_models.sh OUT_DIR [extra train flags]`.
# The two main models (the dashboard's and `reproduce`'s defaults) were trained on one NVIDIA H200
# with `--steps 3000 --batch-size 128`; the sweep's models on 2 CPU cores with `--steps 1200` (64
# problems a step), all alike so that they compare fairly (see README).
set -euo pipefail
out=${1:?usage: make_models.sh OUT_DIR [main|sweep] [train flags]}
part=${2:-all}
shift $(( $# >= 2 ? 2 : 1 ))
train() { name=$1; shift; python3 -m core train --out "$out/$name.eqx" --force "$@"; }
if [[ $part == main || $part == all ]]; then
    train fourdvarnet_attractor_every5 --preset attractor --obs-every 5 "$@"
    train fourdvarnet_seed_every5 --preset seed --obs-every 5 "$@"
fi
if [[ $part == sweep || $part == all ]]; then
    # One model per training density, one on a mix of densities, one on a mix of observed components.
    mkdir -p "$out/sweep"
    for every in 2 5 10 20; do
        train "sweep/fourdvarnet_attractor_every$every" --preset attractor --obs-every "$every" "$@"
    done
    train sweep/fourdvarnet_attractor_mixed_every --preset attractor --obs-every 2,3,4,5,6,8,10,12,15,20,25 "$@"
    train sweep/fourdvarnet_attractor_mixed_components --preset attractor --obs-every 5 --observed xyz x y z xy xz yz "$@"
fi
