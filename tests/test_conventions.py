"""The derivative conventions of issue 8 (README, Derivative conventions), in-process:
derivatives of a non-finite value are NaN, in every mode and order, while `where` stays
NaN-safe and IEEE infinities of finite values stay."""

from __future__ import annotations

import numpy as np
import pytest

import adcore

ZERO = {"x": np.zeros(3)}


pytestmark = pytest.mark.usefixtures("quiet_numpy")


def test_a_pole_has_no_derivative() -> None:
    pole = adcore.compile("1 / norm(x)")
    assert np.isinf(pole.evaluate(at=ZERO)["value"])
    assert np.isnan(pole.gradient(at=ZERO)["gradient"]["x"]).all()
    for mode in ("forward", "reverse"):
        assert np.isnan(pole.jacobian(at=ZERO, mode=mode)["jacobian"]["x"]).all()
    assert np.isnan(pole.hessian(at=ZERO)["hessian"]["x"]["x"]).all()  # not -inf: +inf is true
    assert np.isnan(pole.hessian(at=ZERO, diagonal=True)["hessian_diagonal"]["x"]).all()
    assert np.isnan(pole.hvp(at=ZERO, v={"x": np.ones(3)})["hvp"]["x"]).all()
    assert np.isnan(pole.laplacian(at=ZERO)["laplacian"])


def test_a_pole_inside_the_language() -> None:
    nested = adcore.compile("f(y) = 1 / norm(y)\ngrad(f)(x)")
    assert np.isnan(nested.evaluate(at=ZERO)["value"]).all()
    assert np.isnan(nested.jacobian(at=ZERO)["jacobian"]["x"]).all()
    finite = nested.evaluate(at={"x": np.array([3.0, 0.0, 4.0])})["value"]
    np.testing.assert_allclose(finite, -np.array([3.0, 0.0, 4.0]) / 125, rtol=1e-15)


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_only_the_rows_of_non_finite_elements_are_nan(mode: str) -> None:
    rows = adcore.compile("[1 / x[0], x[1] * x[2], log(x[2])]")
    jac = rows.jacobian(at={"x": np.array([0.0, 2.0, 0.0])}, mode=mode)["jacobian"]["x"]
    assert np.isnan(jac[0]).all() and np.isnan(jac[2]).all()
    np.testing.assert_array_equal(jac[1], [0.0, 0.0, 2.0])


def test_vjp_is_nan_only_when_a_non_finite_element_is_weighted() -> None:
    rows = adcore.compile("[1 / x[0], x[1] * x[2]]")
    at = {"x": np.array([0.0, 2.0, 3.0])}
    np.testing.assert_array_equal(rows.vjp(at=at, u=np.array([0.0, 1.0]))["vjp"]["x"],
                                  [0.0, 3.0, 2.0])
    assert np.isnan(rows.vjp(at=at, u=np.array([1.0, 1.0]))["vjp"]["x"]).all()


def test_where_stays_nan_safe_and_finite_infinities_stay() -> None:
    safe = adcore.compile("sum(where(x > 0, log(x), 0))")
    at = {"x": np.array([0.0, 1.0])}
    np.testing.assert_array_equal(safe.gradient(at=at)["gradient"]["x"], [0.0, 1.0])
    np.testing.assert_array_equal(safe.hessian(at=at)["hessian"]["x"]["x"],
                                  [[0.0, 0.0], [0.0, -1.0]])
    root = adcore.compile("sqrt(x)")
    assert root.gradient(at={"x": 0.0})["gradient"]["x"] == np.inf  # value 0 is finite
    assert np.isnan(root.hessian(at={"x": 0.0})["hessian"]["x"]["x"])  # d(inf) is NaN
    both = adcore.compile("x * sqrt(x)")  # the strong zero still makes 0 * inf exact
    assert both.gradient(at={"x": 0.0})["gradient"]["x"] == 0.0


def test_an_overflowing_value_has_nan_derivatives() -> None:
    big = adcore.compile("sum(exp(x))").gradient(at={"x": np.array([1000.0, -1000.0])})
    assert big["value"] == np.inf and np.isnan(big["gradient"]["x"]).all()
