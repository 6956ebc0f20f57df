"""fungrad.extend: primitives defined outside the package, with their own rules."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import fungrad
import fungrad.numpy as fnp
from fungrad import extend
from fungrad.errors import MissingRuleError
from fungrad.test_util import check_grads

# softplus(x) = log(1 + e^x), computed stably; its derivative is the logistic sigmoid.
softplus_p = extend.new_primitive("softplus_test_extend")
softplus_p.impl = lambda x: np.logaddexp(x, 0.0)
softplus_p.abstract_eval = lambda x: extend.ShapedArray(x.shape, x.dtype)


def softplus(x):
    return softplus_p.bind(x)


extend.defjvp(softplus_p, lambda t, ans, x: t / (1.0 + fnp.exp(-x)))
extend.defvectorized(softplus_p)

# A linear primitive: reverse the last axis. Its own transpose.
reverse_p = extend.new_primitive("reverse_test_extend")
reverse_p.impl = lambda x: np.flip(x, -1)
reverse_p.abstract_eval = lambda x: extend.ShapedArray(x.shape, x.dtype)


def reverse(x):
    return reverse_p.bind(x)


extend.deflinear(reverse_p, lambda ct, x: (reverse(ct),))
extend.register_batch(
    reverse_p,
    lambda values, dims: (reverse(extend.move_batch_dim(values[0], dims[0], 0, 0)), 0),
)

floats = hnp.arrays(
    np.float64,
    hnp.array_shapes(min_dims=1, max_dims=2, max_side=4),
    elements=st.floats(-5, 5),
)


@settings(max_examples=25, deadline=None)
@given(floats)
def test_outside_primitive_derivatives_match_central_differences(x):
    check_grads(softplus, (x,), order=2)
    check_grads(lambda x: reverse(x) * x, (x,), order=2)


@settings(max_examples=25, deadline=None)
@given(floats)
def test_outside_primitives_batch_and_compile_as_numpy_computes(x):
    expected = np.logaddexp(x, 0.0)
    np.testing.assert_allclose(fungrad.vmap(softplus)(x), expected)
    np.testing.assert_allclose(fungrad.jit(softplus)(x), expected)
    np.testing.assert_allclose(fungrad.vmap(reverse, in_axes=0)(x), np.flip(x, -1))
    if x.ndim == 2:
        np.testing.assert_allclose(fungrad.vmap(reverse, in_axes=1, out_axes=1)(x), x[::-1])
    np.testing.assert_allclose(fungrad.jit(fungrad.grad(lambda x: fnp.sum(softplus(x))))(x),
                               1.0 / (1.0 + np.exp(-x)), rtol=1e-12)  # fmt: skip


@settings(max_examples=25, deadline=None)
@given(floats, st.data())
def test_outside_linear_primitive_transpose_is_consistent(x, data):
    y = data.draw(hnp.arrays(np.float64, x.shape, elements=st.floats(-5, 5)))
    (ct,) = fungrad.linear_transpose(reverse, x)(y)
    np.testing.assert_allclose(np.sum(reverse(x) * y), np.sum(x * ct), atol=1e-12)


def test_outside_primitive_without_a_batching_rule_names_the_gap():
    p = extend.new_primitive("no_batch_rule_test_extend")
    p.impl = lambda x: x
    p.abstract_eval = lambda x: x
    with pytest.raises(MissingRuleError, match="'no_batch_rule_test_extend' has no batching rule"):
        fungrad.vmap(p.bind)(np.ones(3))


def test_outside_primitive_lowering_is_used_by_jit():
    p = extend.new_primitive("cube_test_extend")
    p.impl = lambda x: x**3
    p.abstract_eval = lambda x: extend.ShapedArray(x.shape, x.dtype)
    extend.defvectorized(p)

    def lowering(ctx, x):
        return extend.Emitted(f"{ctx.name(np.power, 'power')}({x.source}, 3)", True, False)

    extend.register_lowering(p, lowering)
    f = fungrad.jit(p.bind)
    assert "power" in f.lower(np.ones(2)).as_text()
    np.testing.assert_allclose(f(np.array([2.0, -1.0])), [8.0, -1.0])


def test_extend_exports_what_it_lists():
    for name in extend.__all__:
        assert hasattr(extend, name), name
