"""Statistics and filter analysis behind the tables and plots (no I/O, no drawing).

One name for the report's analysis, split by concern into modules that import
only downwards (``order`` <- ``modulation`` <- ``drift``, ``recovery``,
``similarity``; ``axes`` on ``order``), all NumPy and SciPy: a report must build
on a machine (or in a process) without Keras or TensorFlow. The kernel maths
comes from :mod:`benchmark.kernels`. Everything is a pure function of the loaded
runs: bootstrap intervals and permutations use fixed generators, ties are broken
by name.

- :mod:`benchmark.report.order` — metric directions, system and dataset order, intervals;
- :mod:`benchmark.report.modulation` — filters read from their kernels, log-modulation space;
- :mod:`benchmark.report.drift` — how far each parameter moved;
- :mod:`benchmark.report.recovery` — recovery and coverage of planted modulations;
- :mod:`benchmark.report.similarity` — task similarity against a permutation null;
- :mod:`benchmark.report.axes` — units of the axes, the features' own transfer.
"""

from __future__ import annotations

from benchmark.kernels import gabor_kernels_np  # noqa: F401
from benchmark.report.axes import (AxisUnits, _by_dataset, _mel_axis, axis_units,  # noqa: F401
                                   feature_config, feature_transfer)
from benchmark.report.drift import DRIFT_PARAMS, drift  # noqa: F401
from benchmark.report.modulation import (SPECTRAL_REF_CYC_PER_OCT, TEMPORAL_REF_HZ,  # noqa: F401
                                         Moves, _gabor_groups, _grid_of, folded_distance,
                                         gabor_arrays, learnable_runs, log_coords,
                                         modulation_shift, modulations, moves, run_changes,
                                         run_kernels, run_modulations, run_points, run_resolved)
from benchmark.report.order import (BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, REFERENCE,  # noqa: F401
                                    _tidy, ci95, dataset_order, direction_of, main_metric,
                                    metric_label, system_order, table_columns)
from benchmark.report.recovery import (Recovery, RunRecovery, _nanmin0,  # noqa: F401
                                       evidence_distances, evidence_points, recovery,
                                       run_recovery)
from benchmark.report.similarity import (ALPHA, PERMUTATION_SEED, PERMUTATIONS,  # noqa: F401
                                         Similarity, TaskPair, energy_distance_2d, holm,
                                         min_attainable_p, permutation_test, similarity_verdict,
                                         task_similarity)
