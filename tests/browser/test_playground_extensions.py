"""The playground's panels for operations that other issues add: the derivative as a program
(POST /v1/derive, issue 11b) and sparse Jacobians and Hessians (issue 10). The page shows
them when the server's OpenAPI document has them; each test runs once its endpoint is on
the branch (until then it is skipped, saying which issue it waits for)."""

from __future__ import annotations

import httpx
import numpy as np
import pytest

from tests.browser.test_playground import open_playground, tanh_hessian
from tests.browser.watch import Watched

M = np.array([[0.5, -1, 0.3], [0.2, 0.8, -0.6], [-0.4, 0.1, 0.9]])
X = np.array([0.3, -0.2, 0.5])
CHAIN = np.array([0.84, 0.91, 0.14, -0.76, -0.96, -0.28, 0.66, 0.99, 0.41, -0.54, -1, -0.54])


def require(server: str, feature: str, issue: str) -> None:
    spec = httpx.get(f"{server}/openapi.json").json()
    fields = spec["components"]["schemas"]["DerivativeRequest"]["properties"]
    if feature not in spec["paths"] and feature not in fields:
        pytest.skip(f"{feature} lands with issue {issue}")


def test_derived_programs_compute_the_derivative(browser_page: Watched, server: str) -> None:
    require(server, "/v1/derive", "11b")
    page = open_playground(browser_page)
    page.select_option("#examples", label="Hessian of sum(tanh(M @ x)) with respect to x")
    page.click("[data-op=gradient]")
    page.wait_for_selector("#derive-panel:not([hidden]) #derived section")
    assert page.inner_text("#derived section header span") == "programs[x]"
    text = page.inner_text("#derived section pre")
    # The program as shown computes the gradient: M^T (1 - tanh(M x)^2).
    answer = httpx.post(f"{server}/v1/evaluate",
                        json={"program": text, "at": {"M": M.tolist(), "x": X.tolist()}})
    truth = M.T @ (1 - np.tanh(M @ X) ** 2)
    np.testing.assert_allclose(answer.json()["value"], truth, rtol=1e-12)
    # Opened in the editor, it is a program like any other: its Jacobian is the Hessian.
    page.locator("#derived section button", has_text="Open in editor").click()
    assert page.input_value("#program") == text
    page.click("[data-op=jacobian]")  # a vector result: its gradient is a shape error
    page.wait_for_selector("#diagnostic.ok")
    page.wait_for_selector("#result[data-operation=jacobian]")
    page.wait_for_function("() => document.getElementById('matrix-plot').data?.[0]?.z.length"
                           " === 3")
    z = page.evaluate("document.getElementById('matrix-plot').data[0].z")
    np.testing.assert_allclose(z, tanh_hessian(M, X), rtol=1e-10, atol=1e-14)
    # Opened while "gradient" was chosen, the vector-valued program first got 422s (shown
    # as problems on the page; the browser logs them).
    browser_page.check(allowed=(r"status of 422 .*/v1/(gradient|derive)",))


def chain_hessian(x: np.ndarray) -> np.ndarray:
    n = len(x)
    ends = np.full(n, 4.0)
    ends[[0, -1]] = 2.0
    return np.diag(ends + 1.2 * x**2) - 2 * (np.eye(n, k=1) + np.eye(n, k=-1))


def test_sparse_hessian_spy_plot(browser_page: Watched, server: str) -> None:
    require(server, "sparse", "10")
    page = open_playground(browser_page)
    page.select_option("#examples", label="A chain of springs: a banded Hessian")
    page.wait_for_selector("#result[data-operation=hessian]")
    truth = chain_hessian(CHAIN)
    for triangle, keep in (("both", lambda r, c: True), ("lower", lambda r, c: r >= c)):
        page.check("#sparse")
        page.select_option("#triangle", triangle)
        page.dispatch_event("#triangle", "change")
        pattern = {(r, c) for r, c in zip(*np.nonzero(truth), strict=True) if keep(r, c)}
        page.wait_for_function("n => document.getElementById('spy-plot').data?.[0]?.x.length"
                               " === n", arg=len(pattern))
        spy = page.evaluate("document.getElementById('spy-plot').data[0]")
        assert set(zip(spy["y"], spy["x"], strict=True)) == pattern
        z = np.array(page.evaluate("document.getElementById('matrix-plot').data[0].z"),
                     dtype=float)
        stored = tuple(np.array(sorted(pattern)).T)
        np.testing.assert_allclose(z[stored], truth[stored], rtol=1e-12)
        assert np.isnan(np.delete(z.ravel(), np.ravel_multi_index(stored, z.shape))).all()
    assert "colouring" in page.inner_text("#meta")
    browser_page.check()


def test_every_extension_panel_hides_without_its_endpoint(browser_page: Watched,
                                                          server: str) -> None:
    """The other way round: what the server lacks, the page does not offer."""
    spec = httpx.get(f"{server}/openapi.json").json()
    fields = spec["components"]["schemas"]["DerivativeRequest"]["properties"]
    page = open_playground(browser_page)
    page.click("[data-op=hessian]")
    page.wait_for_selector("#result[data-operation=hessian]")
    assert page.is_visible("#sparse") == ("sparse" in fields)
    assert page.is_visible("#derive-panel") == ("/v1/derive" in spec["paths"])
    browser_page.check()
