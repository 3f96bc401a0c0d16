"""The playground at / in a real browser: what it shows is checked against closed forms
(numbers, curves, contour values, arrow directions, eigen-directions, heat maps), its
pictures are really drawn (data in the plot element, a screenshot that is not blank), and
a syntax error is underlined at its line and column. No request leaves 127.0.0.1."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import httpx
import numpy as np
import pytest

from tests.browser.watch import Watched, pixel_spread
from tests.servers import ROOT

WAVE = "sin(3*x) * exp(-x^2 / 8)"
HIMMELBLAU = "(x^2 + y - 11)^2 + (x + y^2 - 7)^2"
RESULT = """label => [...document.querySelectorAll('#result th')]
    .find(th => th.textContent === label)?.nextElementSibling.textContent"""
PLOT = "id => document.getElementById(id).data || []"


def wave(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    g = np.exp(-x**2 / 8)
    s, c = np.sin(3 * x), np.cos(3 * x)
    return (s * g, (3 * c - x / 4 * s) * g,
            (-9 * s - 1.5 * x * c + (x**2 / 16 - 0.25) * s) * g)


def himmelblau(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    a, b = x**2 + y - 11, x + y**2 - 7
    return a**2 + b**2, 4 * x * a + 2 * b, 2 * a + 4 * y * b


def himmelblau_hessian(x: float, y: float) -> np.ndarray:
    return np.array([[12 * x**2 + 4 * y - 42, 4 * x + 4 * y],
                     [4 * x + 4 * y, 4 * x + 12 * y**2 - 26]])


def open_playground(watched: Watched) -> Any:
    watched.goto("/")
    page = watched.page
    page.wait_for_selector("#diagnostic.ok")  # the first example is checked and shown
    return page


def set_program(page: Any, program: str, inputs: list[str]) -> None:
    page.fill("#program", program)
    page.wait_for_function("names => [...document.querySelectorAll('#inputs tr')]"
                           ".map(r => r.dataset.input).join() === names.join()", arg=inputs)


def set_field(page: Any, selector: str, text: str) -> None:
    page.fill(selector, text)
    page.dispatch_event(selector, "change")


def shown_number(page: Any, label: str, expected: float) -> float:
    """Wait until the result row `label` shows `expected` (6 significant digits)."""
    page.wait_for_function(f"([label, expected]) => Math.abs(Number(({RESULT})(label)) - expected)"
                           " <= 1e-5 * Math.max(1, Math.abs(expected))", arg=[label, expected])
    return float(page.evaluate(RESULT, label))


def assert_drawn(watched: Watched, chromium: Any, element: str) -> None:
    spread, colours = pixel_spread(chromium, watched.page.locator(element).screenshot())
    assert spread > 5 and colours > 20, (element, spread, colours)


def test_one_scalar_input_draws_f_and_its_derivatives(browser_page: Watched,
                                                      chromium: Any) -> None:
    page = open_playground(browser_page)
    set_program(page, WAVE, ["x"])
    page.click("[data-op=gradient]")
    page.fill("tr[data-input=x] input.value", "0.5")
    set_field(page, "#interval-lo", "-4")
    set_field(page, "#interval-hi", "4")
    f, df, _ = wave(np.array(0.5))
    shown_number(page, "value", float(f))
    shown_number(page, "gradient[x]", float(df))
    page.wait_for_function(f"() => ({PLOT})('function-plot').length === 3 && "
                           f"({PLOT})('function-plot')[0].x[0] === -4")
    traces = page.evaluate(PLOT, "function-plot")
    xs = np.array(traces[0]["x"])
    assert len(xs) == 241 and xs[-1] == 4
    for trace, truth in zip(traces, wave(xs), strict=True):  # f, f' and f'' from one batch each
        np.testing.assert_allclose(trace["y"], truth, rtol=1e-9, atol=1e-12)
    assert_drawn(browser_page, chromium, "#function-plot")
    browser_page.check()


def test_two_scalar_inputs_draw_a_contour_map(browser_page: Watched, chromium: Any) -> None:
    page = open_playground(browser_page)
    set_program(page, "# Himmelblau\n" + HIMMELBLAU, ["x", "y"])
    page.click("[data-op=gradient]")
    page.fill("tr[data-input=x] input.value", "2")
    page.fill("tr[data-input=y] input.value", "1")
    set_field(page, "#half-width", "4")
    _, gx, gy = himmelblau(np.array(2.0), np.array(1.0))
    shown_number(page, "gradient[x]", float(gx))
    shown_number(page, "gradient[y]", float(gy))
    page.wait_for_function(f"() => ({PLOT})('function-plot')[0]?.type === 'contour' && "
                           f"({PLOT})('function-plot')[0].x[0] === -2")
    contour, arrows, *eigen, point = page.evaluate(PLOT, "function-plot")
    xs, ys = np.array(contour["x"]), np.array(contour["y"])
    assert (xs[0], xs[-1], ys[0], ys[-1]) == (-2, 6, -3, 5)
    grid_x, grid_y = np.meshgrid(xs, ys)
    np.testing.assert_allclose(contour["customdata"], himmelblau(grid_x, grid_y)[0], rtol=1e-12)
    # Each arrow points along the closed-form gradient at its base.
    path = np.array([arrows["x"], arrows["y"]], dtype=float).T  # base, tip, gap, base, ...
    bases, tips = path[0::3], path[1::3]
    truth = np.stack(himmelblau(bases[:, 0], bases[:, 1])[1:], axis=1)
    cosine = np.sum((tips - bases) * truth, axis=1) / (
        np.linalg.norm(tips - bases, axis=1) * np.linalg.norm(truth, axis=1))
    assert len(bases) > 50 and np.all(cosine > 1 - 1e-9)
    # The two lines through the point are the Hessian's eigenvectors.
    values, vectors = np.linalg.eigh(himmelblau_hessian(2.0, 1.0))
    for line in eigen:
        direction = np.array([line["x"][1] - line["x"][0], line["y"][1] - line["y"][0]])
        direction /= np.linalg.norm(direction)
        assert max(abs(direction @ vectors[:, k]) for k in range(2)) > 1 - 1e-9
    assert sorted(float(line["name"].split("λ = ")[1].split()[0]) for line in eigen) == \
        pytest.approx(sorted(values), rel=1e-5)
    assert (point["x"], point["y"]) == ([2], [1])
    assert_drawn(browser_page, chromium, "#function-plot")
    browser_page.check()


def test_a_vector_of_length_two_draws_a_contour_map(browser_page: Watched) -> None:
    page = open_playground(browser_page)
    page.select_option("#examples", label="Rosenbrock with x of shape (2,)")
    page.wait_for_function("() => document.getElementById('function-plot').layout?.xaxis"
                           ".title.text === 'x[0]'")
    contour = page.evaluate(PLOT, "function-plot")[0]
    assert contour["type"] == "contour" and len(contour["x"]) == 45
    x0, x1 = np.meshgrid(contour["x"], contour["y"])
    np.testing.assert_allclose(contour["customdata"], 100 * (x1 - x0**2)**2 + (1 - x0)**2,
                               rtol=1e-12)
    browser_page.check()


def test_errors_are_underlined_at_their_line_and_column(browser_page: Watched) -> None:
    page = open_playground(browser_page)
    page.fill("#program", "f(y) = y^2\nf(x) + )")
    mark = page.wait_for_selector("#backdrop mark")
    assert (mark.get_attribute("data-line"), mark.get_attribute("data-column")) == ("2", "8")
    assert mark.text_content() == ")"
    box, area = mark.bounding_box(), page.locator("#program").bounding_box()
    style = page.evaluate("""() => { const s = getComputedStyle(document.getElementById('program'));
        return [parseFloat(s.lineHeight), parseFloat(s.paddingTop), parseFloat(s.paddingLeft)]; }""")
    line_height, top, left = style
    char = box["width"]  # one character of a monospace font
    assert abs(box["y"] - (area["y"] + top + line_height)) < line_height / 2  # second line
    assert abs(box["x"] - (area["x"] + left + 7 * char)) < char / 2  # eighth column
    assert "Line 2, column 8" in page.inner_text("#diagnostic")
    assert page.inner_text("#gutter .error-line") == "2"
    # Columns count code points: a character outside the BMP is one column, two UTF-16 units.
    page.fill("#program", "(x + \U0001d70b)")
    page.wait_for_selector("#backdrop mark[data-column='6']")
    assert page.text_content("#backdrop mark") == "\U0001d70b"
    # Shape errors show up once the inputs are known: x[1:] of a scalar.
    page.fill("#program", "sum(x[1:])")  # x is still the scalar of the first example
    page.wait_for_function("() => document.getElementById('diagnostic').textContent"
                           ".includes('column 6 · shape')")
    page.wait_for_selector("#backdrop mark[data-column='6']")
    page.fill("tr[data-input=x] input.value", "[1, 2, 3]")  # fixed: the mark goes away
    shown_number(page, "value", 5.0)
    page.wait_for_selector("#backdrop mark", state="detached")
    browser_page.check(allowed=(r"status of 422 .*/v1/(functions|gradient|hessian|jacobian|derive)",))


def tanh_hessian(m: np.ndarray, x: np.ndarray) -> np.ndarray:
    t = np.tanh(m @ x)
    return m.T @ np.diag(-2 * t * (1 - t**2)) @ m


def test_hessian_heat_map_every_operation_and_the_snippets(browser_page: Watched,
                                                           server: str) -> None:
    page = open_playground(browser_page)
    page.select_option("#examples", label="Hessian of sum(tanh(M @ x)) with respect to x")
    page.wait_for_function(f"() => ({PLOT})('matrix-plot')[0]?.z.length === 3")
    m = np.array([[0.5, -1, 0.3], [0.2, 0.8, -0.6], [-0.4, 0.1, 0.9]])
    x = np.array([0.3, -0.2, 0.5])
    heat = page.evaluate(PLOT, "matrix-plot")[0]
    np.testing.assert_allclose(heat["z"], tanh_hessian(m, x), rtol=1e-10, atol=1e-14)
    assert heat["x"] == ["x[0]", "x[1]", "x[2]"]

    # The curl snippet's body, sent as it is, gives the same Hessian.
    curl = page.inner_text("#snippet")
    body = json.loads(curl.split("-d '", 1)[1].rsplit("'", 1)[0])
    answer = httpx.post(f"{server}/v1/hessian", json=body).json()
    np.testing.assert_allclose(answer["hessian"]["x"]["x"], tanh_hessian(m, x), rtol=1e-10)
    # The Python snippet runs as it is, with the repository's client.
    page.click("[data-snippet=python]")
    script = page.inner_text("#snippet")
    assert "nabla.hessian(" in script and 'wrt=["x"]' in script
    run = subprocess.run([sys.executable, "-c", script], check=False, cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0 and "'hessian'" in run.stdout, run.stderr

    # Every operation computes here without a problem; a few checked against the truth.
    truth = {"laplacian": np.trace(tanh_hessian(m, x)),
             "hvp[x]": tanh_hessian(m, x) @ np.ones(3)}
    for op in ("evaluate", "gradient", "jacobian", "hvp", "jvp", "vjp", "laplacian", "hessian"):
        page.click(f"[data-op={op}]")
        page.wait_for_selector(f"#result[data-operation={op}]")
        label = {"evaluate": "value", "jvp": "jvp", "laplacian": "laplacian",
                 "hessian": "hessian[x][x]"}.get(op, f"{op}[x]")
        assert page.locator("#result .problem").count() == 0, page.inner_text("#result")
        assert page.evaluate(RESULT, label) is not None, (op, page.inner_text("#result"))
        if label in truth:
            shown = np.array(json.loads(page.evaluate(RESULT, label)))
            np.testing.assert_allclose(shown, truth[label], rtol=1e-5)
    browser_page.check()
