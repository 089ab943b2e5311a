"""Lorenz-63 twin experiments: strong-constraint 4DVar against FourDVarNet, in JAX.

A flat public API over small modules; see the README's layout for a tour. Every window method is one
`AbstractMethod` (`core/da/method.py`): `run` gives its trajectory and analysis, `evaluate` its scores;
every cycled method is one `AbstractCycledMethod` (`core/da/cycle.py`), run by `run_cycle`; both kinds
are listed in one registry (`core/da/registry.py`).
`import core as vdx` runs the reference notebook unchanged but for its import lines
(tests/test_notebook.py); its helpers live in `core/notebook.py`.
"""

from core.da.cycle import (
    AbstractCycledMethod,
    CycleRecord,
    CycleSetup,
    CycleTruth,
    between_analyses,
    cycle_scores,
    mean_with_stderr,
    run_cycle,
    run_cycle_with_states,
    simulate,
    time_cycle,
)
from core.da.evaluation import QUICK_TIMING, Evaluation, Timing, evaluate, summarize, time_call
from core.da.method import (
    STATUS_CONVERGED,
    STATUS_DIRECT,
    STATUS_FAILED,
    STATUS_MAX_STEPS,
    STATUS_WRONG_MINIMUM,
    AbstractMethod,
    Analysis,
    analyse,
    analyse_batch,
    describe_status,
    run,
    run_batch,
)
from core.da.registry import (
    CYCLED_METHOD_NAMES,
    MethodContext,
    MethodEntry,
    build_cycled_method,
    build_methods,
    cycled_parameters,
    register_method,
    registered_methods,
    unregister_method,
)
from core.da.scoring import (
    ATTRACTOR_SIZE,
    PREDICTABILITY_FRACTION,
    assemble_full_trajectory,
    predictability_time,
    scores,
)
from core.methods.baseline import FreeRun, OptimalInterpolation, optimal_interpolation
from core.methods.cycle_methods import CycledFreeRun, CycledOI, CycledStrong4DVar, CycledVar3D, CycledWeak4DVar
from core.methods.ensemble import (
    LETKF,
    EnKFPerturbed,
    EnKFSqrt,
    IEnKS,
    perturbed_obs_analysis,
    random_rotation,
    sqrt_analysis,
)
from core.methods.fourdvar import (
    SOLVERS,
    Analysis4DVar,
    chi_square_limit,
    cost,
    observation_statistic,
    residuals,
    strong_4dvar,
    wrong_minimum,
)
from core.methods.learned import FourDVarNetMethod, ReferenceFourDVarNetMethod, learned_method
from core.methods.model_error_estimate import QEstimate, estimate_model_error, tune_model_error
from core.methods.uncertainty import band_coverage, posterior_covariance, posterior_std
from core.methods.variational import Strong4DVar
from core.methods.weak4dvar import WeakAnalysis, weak_4dvar, weak_cost
from core.methods.weak_variational import Weak4DVar
from core.nets.cycle_fourdvarnet import CycledFourDVarNet
from core.nets.fourdvarnet import FourDVarNet, dynamical_residual, interpolate_observations
from core.nets.fourdvarnet_reference import Batch1D, FourDVarNet1D, train_step
from core.nets.model_files import ModelFileError, load_model, read_model_header, save_model
from core.nets.training import TrainingConfig, TrainingReport, build_model, fit
from core.notebook import MethodResult, assim_batch, run_method
from core.setups.problems import (
    CLIMATOLOGY_MEAN,
    CLIMATOLOGY_STD,
    PRESETS,
    Problem,
    generate_problem,
    generate_problems,
    index_problem,
    noisy_rollout,
)
from core.setups.sakov2012 import default_burn_in, sakov2012
from core.setups.window_systems import SYSTEMS, attractor_size, climatology, make_system
from core.studies.landscape import Landscape, cost_landscape, fourdvarnet_path, pad_problem, solver_path
from core.studies.windows import long_window_problems, long_window_table, window_rmse
from core.systems.lorenz import AbstractSystem, Lorenz63Forward, fixed_points, lorenz63_vector_field
from core.systems.lorenz96 import Lorenz96Forward, lorenz96_vector_field
