"""Hypothesis profiles: "ci" (default) is derandomized so a run is reproducible;
"thorough" runs many more examples. Choose with FUNGRAD_HYPOTHESIS_PROFILE."""

import os

# The arrays in the tests are small: BLAS worker threads only add synchronisation, and on
# a busy two-core machine they made the example tests many times slower. An explicit
# setting in the environment wins. (Set before anything imports NumPy.)
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "thorough",
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("FUNGRAD_HYPOTHESIS_PROFILE", "ci"))
