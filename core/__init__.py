"""Lorenz-63 twin experiments: strong-constraint 4DVar against FourDVarNet, in JAX.

A flat public API over small modules; see the README's layout for a tour. Every window method is one
`AbstractMethod` (`core/method.py`): `run` gives its trajectory and analysis, `evaluate` its scores;
every cycled method is one `AbstractCycledMethod` (`core/cycle.py`), run by `run_cycle`.
`import core as vdx` runs the reference notebook unchanged but for its import lines
(tests/test_notebook.py); its helpers live in `core/compat.py`.
"""

from .baseline import FreeRun, OptimalInterpolation, optimal_interpolation
from .compat import MethodResult, assim_batch, run_method
from .cycle import (
    AbstractCycledMethod,
    CycleRecord,
    CycleSetup,
    CycleTruth,
    between_analyses,
    cycle_scores,
    default_burn_in,
    mean_with_stderr,
    run_cycle,
    run_cycle_with_states,
    sakov2012,
    simulate,
    time_cycle,
)
from .cycle_methods import (
    CYCLE_METHOD_NAMES,
    CycledFreeRun,
    CycledOI,
    CycledStrong4DVar,
    CycledVar3D,
    build_cycled_method,
)
from .ensemble import EnKFPerturbed, EnKFSqrt, IEnKS, perturbed_obs_analysis, random_rotation, sqrt_analysis
from .evaluation import QUICK_TIMING, Evaluation, Timing, evaluate, summarize, time_call
from .fourdvar import (
    SOLVERS,
    Analysis4DVar,
    chi_square_limit,
    cost,
    observation_statistic,
    residuals,
    strong_4dvar,
    wrong_minimum,
)
from .fourdvarnet import FourDVarNet, dynamical_residual, interpolate_observations
from .fourdvarnet_reference import Batch1D, FourDVarNet1D, train_step
from .landscape import Landscape, cost_landscape, fourdvarnet_path, pad_problem, solver_path
from .learned import FourDVarNetMethod, ReferenceFourDVarNetMethod, learned_method
from .lorenz import Lorenz63Forward, fixed_points, lorenz63_vector_field
from .method import (
    STATUS_CONVERGED,
    STATUS_DIRECT,
    STATUS_FAILED,
    STATUS_MAX_STEPS,
    STATUS_WRONG_MINIMUM,
    AbstractMethod,
    Analysis,
    MethodContext,
    MethodEntry,
    analyse,
    analyse_batch,
    build_methods,
    describe_status,
    register_method,
    registered_methods,
    run,
    run_batch,
    unregister_method,
)
from .model_files import ModelFileError, load_model, read_model_header, save_model
from .problems import (
    CLIMATOLOGY_MEAN,
    CLIMATOLOGY_STD,
    PRESETS,
    Problem,
    generate_problem,
    generate_problems,
    index_problem,
)
from .scoring import (
    ATTRACTOR_SIZE,
    PREDICTABILITY_FRACTION,
    assemble_full_trajectory,
    predictability_time,
    scores,
)
from .training import TrainingConfig, TrainingReport, build_model, fit
from .uncertainty import band_coverage, posterior_covariance, posterior_std
from .variational import Strong4DVar
from .weak4dvar import WeakAnalysis, weak_4dvar, weak_cost
from .weak_variational import Weak4DVar
from .windows import long_window_problems, long_window_table, window_rmse
