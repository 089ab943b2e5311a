"""Forward + backward of one training step of both FourDVarNets, the shared convolution against the
alternatives, side by side in one process (alternating, several rounds): `python docs/bench_convolution.py`.

Variants of the convolution (every one gives the same numbers to float32 rounding):
  concat  the shared block (core/nets/convlstm.py): K shifted copies concatenated, one matmul
  taps    a sum of K matmuls, one per tap (the reference's conv1d_same at commit 7a3a3d9, channels first)
  lax     jax.lax.conv_general_dilated
The last table compiles the reference's step with XLA's CPU fusion emitters on (the default) and off.
Compile times are CPU seconds of this process (less sensitive to other jobs than wall time).
"""

from __future__ import annotations

import os
import resource
import statistics
import sys
import time

import equinox as eqx
import jax
import jax.numpy as jnp

import core.nets.fourdvarnet as ours_module
import core.nets.fourdvarnet_reference as reference_module
from core.nets.convlstm import same_convolution
from core.nets.fourdvarnet import normalised_mse
from core.nets.training import REFERENCE_CONFIG, TrainingConfig, build_model, training_batch_for
from core.setups.problems import generate_problems

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 5


def taps(x, weight, bias):
    half, length = weight.shape[0] // 2, x.shape[0]
    padded = jnp.pad(x, ((half, half), (0, 0)))
    return sum(padded[k : k + length] @ weight[k] for k in range(weight.shape[0])) + bias


def lax_conv(x, weight, bias):
    half = weight.shape[0] // 2
    out = jax.lax.conv_general_dilated(x.T[None], jnp.transpose(weight, (2, 1, 0)), (1,), [(half, half)])
    return out[0].T + bias


def reference_taps(conv, x):
    """7a3a3d9's conv1d_same: channels first, one matmul per tap, no transposes."""
    kernel_size = conv.weight.shape[-1]
    half, length = kernel_size // 2, x.shape[1]
    padded = jnp.pad(x, ((0, 0), (half, half)))
    return sum(conv.weight[:, :, j] @ padded[:, j : j + length] for j in range(kernel_size)) + conv.bias


SHARED_REFERENCE_CONV = reference_module.conv1d_same
VARIANTS = {"concat": same_convolution, "taps": taps, "lax": lax_conv}


def use(name: str, reference_7a3a3d9: bool = False) -> None:
    ours_module.same_convolution = VARIANTS[name]
    reference_module.same_convolution = VARIANTS[name]
    reference_module.conv1d_same = reference_taps if reference_7a3a3d9 else SHARED_REFERENCE_CONV


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def time_variant(model, loss, data, repeats: int, compiler_options=None) -> tuple[float, float]:
    """(ms per forward + backward, compile CPU seconds) of a fresh jitted value-and-grad of `loss(model,
    data)`: fresh, so that each variant compiles its own; the data an argument, as in training (a
    constant would be folded at compile time)."""
    params, static = eqx.partition(model, eqx.is_array)
    step = jax.jit(lambda p, d: jax.value_and_grad(lambda q: loss(eqx.combine(q, static), d))(p))
    start = cpu_seconds()
    compiled = step.lower(params, data).compile(compiler_options=compiler_options)
    compile_s = cpu_seconds() - start
    jax.block_until_ready(compiled(params, data))
    start = time.perf_counter()
    for _ in range(repeats):
        out = compiled(params, data)
    jax.block_until_ready(out)
    return (time.perf_counter() - start) / repeats * 1e3, compile_s


def main() -> None:
    reference = build_model(REFERENCE_CONFIG)
    batch = training_batch_for(REFERENCE_CONFIG)  # batch 32, as `python -m core bench` trains
    ours = build_model(TrainingConfig())
    problems = generate_problems(jax.random.PRNGKey(3), 64, preset="attractor", T_assim=50)
    ours_loss = lambda m, p: normalised_mse(jax.vmap(m.analyse)(p), p.truth_window)
    cases = {
        "reference, batch 32": (reference, reference_module.mse_loss, batch, 30),
        "ours, batch 64, T 50": (ours, ours_loss, problems, 3),
    }
    plans = {
        "reference, batch 32": [("7a3a3d9 taps", "taps", True), ("concat (shared)", "concat", False)],
        "ours, batch 64, T 50": [("concat (shared)", "concat", False), ("taps", "taps", False), ("lax", "lax", False)],
    }
    print(f"load before: {os.getloadavg()[0]:.2f} (1 min), {os.cpu_count()} CPUs, {ROUNDS} rounds, medians")
    for case, (model, loss, data, repeats) in cases.items():
        runs = {label: ([], []) for label, _, _ in plans[case]}
        for _ in range(ROUNDS if case.startswith("reference") else max(2, ROUNDS // 2)):
            for label, name, old in plans[case]:
                use(name, old)
                ms, compile_s = time_variant(model, loss, data, repeats)
                runs[label][0].append(ms)
                runs[label][1].append(compile_s)
        use("concat")
        for label, (ms, compile_s) in runs.items():
            print(
                f"{case:22s} {label:16s} forward+backward {statistics.median(ms):8.2f} ms   "
                f"compile {statistics.median(compile_s):5.2f} CPU s   (runs: {', '.join(f'{m:.1f}' for m in ms)})"
            )
    model, loss, data, repeats = cases["reference, batch 32"]
    options = {"fusion emitters on": None, "fusion emitters off": {"xla_cpu_use_fusion_emitters": False}}
    runs = {label: ([], []) for label in options}
    for _ in range(ROUNDS):
        for label, compiler_options in options.items():
            ms, compile_s = time_variant(model, loss, data, repeats, compiler_options)
            runs[label][0].append(ms)
            runs[label][1].append(compile_s)
    for label, (ms, compile_s) in runs.items():
        print(
            f"{'reference, batch 32':22s} {label:20s} forward+backward {statistics.median(ms):8.2f} ms   "
            f"compile {statistics.median(compile_s):5.2f} CPU s"
        )
    print(f"load after: {os.getloadavg()[0]:.2f} (1 min)")


if __name__ == "__main__":
    main()
