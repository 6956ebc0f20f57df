"""fungrad: composable function transformations (grad, jvp, vjp, jacobians, jaxprs) on NumPy.

>>> import fungrad, fungrad.numpy as fnp
>>> float(fungrad.grad(lambda x: fnp.sin(x) * x)(0.0))
0.0
"""

from fungrad import tree_util
from fungrad.api import (
    grad,
    jvp,
    linear_transpose,
    linearize,
    make_jaxpr,
    value_and_grad,
    vjp,
)
from fungrad.api import tree_stop_gradient as stop_gradient
from fungrad.checkpointing import checkpoint, remat
from fungrad.core import ClosedJaxpr, Jaxpr, ShapedArray, eval_jaxpr
from fungrad.custom_derivatives import closure_convert, custom_jvp, custom_vjp
from fungrad.dtypes import float0
from fungrad.explain import explain
from fungrad.flags import config, debug_infs, debug_nans
from fungrad.jacobians import hessian, hvp, jacfwd, jacrev
from fungrad.jit import jit
from fungrad.vmap import vmap

__version__ = "0.1.0"

__all__ = [
    "ClosedJaxpr",
    "Jaxpr",
    "ShapedArray",
    "checkpoint",
    "closure_convert",
    "config",
    "custom_jvp",
    "custom_vjp",
    "debug_infs",
    "debug_nans",
    "eval_jaxpr",
    "explain",
    "float0",
    "grad",
    "hessian",
    "hvp",
    "jacfwd",
    "jacrev",
    "jit",
    "jvp",
    "linear_transpose",
    "linearize",
    "make_jaxpr",
    "remat",
    "stop_gradient",
    "tree_util",
    "value_and_grad",
    "vjp",
    "vmap",
]

# Submodules reached as attributes after `import fungrad`, as `jax.lax` and `jax.numpy`
# are after `import jax`; kept out of __all__, so that `from fungrad import *` does not
# bind `numpy`. They build on everything above, so they come last; fungrad.numpy also
# installs the array methods on tracers.
from fungrad import (  # noqa: E402,F401
    checkpoint_policies,
    debug_checks,
    graph,
    lax,
    nn,
    numpy,
    optim,
    test_util,
)
