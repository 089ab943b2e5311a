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
# --allow-long: these runs are long by design (the CLI refuses a run it estimates past 10 minutes without it).
train() { name=$1; shift; python3 -m core train --out "$out/$name.eqx" --force --allow-long "$@"; }
train fourdvarnet_attractor_every5 --preset attractor --obs-every 5 --steps 3000 --batch-size 128
train fourdvarnet_seed_every5 --preset seed --obs-every 5 --steps 3000 --batch-size 128
# The long-window model: the sweep's mixed-density model fine-tuned on 2 CPU cores (nice -n 10,
# shared with other jobs: about 30 minutes) on windows of 50 to 300 steps, densities 2..20 and
# noise 0.5..sqrt(2). It needs the sweep's model first, so it is made after the sweep below.
python3 -m core sweep --allow-long --retrain --steps 3000 --n-problems 256 --save-dir "$out/sweep" --force --json >"$out/sweep/results.json"
train fourdvarnet_attractor_long --preset attractor --init "$out/sweep/fourdvarnet_attractor_mixed_every.eqx" \
  --window 50,100,200,300 --obs-every 2,4,5,8,10,12,16,20 --obs-noise 0.5,1,1.4142 \
  --steps 3000 --batch-size 64 --learning-rate 1e-3
# The model-error model: the long-window model fine-tuned on rho-28 truths while its cost uses the methods' rho 26
# (100-step windows, x y z every 8 steps, noise sqrt 2: core/studies/model_error.py's set-up), on 2 shared CPU
# cores (nice -n 10, load 7-10: 14 minutes).
train fourdvarnet_attractor_long_model_rho26 --preset attractor --init "$out/fourdvarnet_attractor_long.eqx" \
  --window 100 --obs-every 8 --obs-noise 1.4142 --model-rho 26 --steps 1000 --batch-size 64 --learning-rate 1e-3
# The mixed-mismatch model: the same, with the methods' rho drawn uniformly in [24, 32] per training window
# (core/studies/model_error_sweep.py scores it at rho 24, 25, ..., 32; 2 shared CPU cores: 8.5 minutes).
train fourdvarnet_attractor_long_model_rho24_32 --preset attractor --init "$out/fourdvarnet_attractor_long.eqx" \
  --window 100 --obs-every 8 --obs-noise 1.4142 --model-rho-range 24,32 --steps 1000 --batch-size 64 --learning-rate 1e-3
# The cycled FourDVarNet (`python -m core cycle --method fourdvarnet`, core/nets/cycle_training.py), on 2 shared CPU
# cores (nice -n 10, about 11 minutes): windows of one sakov2012 observation cycle (25 steps, x y z observed
# at the end with noise sqrt 2) whose background is the truth plus noise of a cycled analysis' spread
# (log-uniform 0.1..1.5 per component). It lives in a subfolder so that the dashboard's single-window model
# list does not offer it. (Fine-tuning it on its own cycles, `--init FILE --rounds 3 --steps 3000
# --learning-rate 1e-3`, made it worse: rmse_a 0.51 -> 0.67 on 1001 cycles of key 5; it is not shipped.)
python3 -m core.nets.cycle_training --out "$out/cycled/fourdvarnet_cycled.eqx" --force --steps 4500 --batch-size 128
# The cycled FourDVarNet under model error (docs/cycle.md's model-error table): the shipped cycled model
# fine-tuned 1000 steps x 128 windows whose truths run Lorenz-63 at rho 28 while the net's cost and first
# guess use the methods' model at rho 26, so that it learns the correction (2 shared CPU cores, nice -n 10,
# load 5-7: about 11 minutes).
python3 -m core.nets.cycle_training --out "$out/cycled/fourdvarnet_cycled_truth_rho28_model_rho26.eqx" --force \
  --start-from "$out/cycled/fourdvarnet_cycled.eqx" --steps 1000 --batch-size 128 --learning-rate 1e-3 --model-rho 26
# The 4DVarNet authors' Lorenz-96 window problem (core/setups/lorenz96_windows.py, docs/lorenz96.md): 40
# variables, F = 8, 200-step windows at dt 0.05, a random 50% of the variables observed every 4 steps, noise
# variance 2. Our trainer draws fresh windows each step (420 x 16 = 6720 windows, not the authors' fixed 2000).
# On 2 shared CPU cores (nice -n 10, load 3-8): about 20 minutes. In a subfolder, so that the Lorenz-63
# dashboard's model list does not offer it.
mkdir -p "$out/lorenz96"
python3 -m core train --out "$out/lorenz96/fourdvarnet_l96_window200_share50.eqx" --force --allow-long \
  --system lorenz96 --window 200 --obs-every 4 --obs-noise 1.4142 --observed-share 0.5 --steps 420 --batch-size 16
# The authors' FourDVarNet with a learned dynamical prior (core/nets/learned_prior.py), the model-error study's
# learned-prior row: the reference architecture (FourDVarNet1D, its prior a bilinear autoencoder, no ODE model)
# sized for 101-state windows and trained on rho-28 truths of that study's set-up (100-step windows, x y z every 8
# steps, noise sqrt 2): full-batch Adam on 512 fixed windows, 2000 steps at 1e-2 then 3000 at 1e-3 (2 shared CPU
# cores, load 5-6: 9.5 minutes; MSE 221 -> 4.25). In a subfolder: it is built for 100-step windows only.
python3 -m core.nets.learned_prior --out "$out/model_error/fourdvarnet_reference_learned_prior_truth_rho28_window100.eqx" --force
