"""Lorenz-63 twin experiments: strong-constraint 4DVar against FourDVarNet, in JAX.

A flat public API over small modules; see the README for a tour. `import core as vdx` runs the
reference notebook unchanged but for its import lines.
"""

from .fourdvar import (
    SOLVERS,
    STATUS_CONVERGED,
    STATUS_FAILED,
    STATUS_MAX_STEPS,
    STATUS_WRONG_MINIMUM,
    Analysis4DVar,
    chi_square_limit,
    cost,
    describe_status,
    free_run_x0,
    observation_statistic,
    optimal_interpolation,
    residuals,
    strong_4dvar,
    wrong_minimum,
)
from .fourdvarnet import FourDVarNet, dynamical_residual, interpolate_observations
from .fourdvarnet_reference import Batch1D, FourDVarNet1D, train_step
from .landscape import Landscape, cost_landscape, fourdvarnet_path, pad_problem, solver_path
from .lorenz import Lorenz63Forward, fixed_points, lorenz63_vector_field
from .methods import (
    METHOD_LABELS,
    METHOD_NAMES,
    fourdvarnet_reference_trajectories,
    fourdvarnet_reference_trajectory,
    fourdvarnet_trajectories,
    fourdvarnet_trajectory,
    fourdvarnet_window,
    free_run_trajectories,
    free_run_trajectory,
    oi_trajectories,
    oi_trajectory,
    strong_4dvar_trajectories,
    strong_4dvar_trajectory,
)
from .problems import (
    CLIMATOLOGY_MEAN,
    CLIMATOLOGY_STD,
    PRESETS,
    Problem,
    assim_batch,
    generate_problem,
    generate_problems,
    index_problem,
    training_batch,
)
from .scoring import (
    ATTRACTOR_SIZE,
    PREDICTABILITY_FRACTION,
    MethodResult,
    assemble_full_trajectory,
    batch_statistics,
    predictability_time,
    run_method,
    scores,
    summarize,
)
from .training import (
    ModelFileError,
    TrainingConfig,
    TrainingReport,
    build_model,
    fit,
    load_model,
    read_model_header,
    save_model,
)
from .windows import long_window_problems, long_window_table, window_rmse
