"""/docs and /redoc in a real browser, with no request leaving 127.0.0.1.

Every example of every operation is executed through Swagger UI itself, as a person would:
expand the operation, "Try it out", pick the example, "Execute", read the status it shows.
"""

from __future__ import annotations

import json

import adcore
from service import examples
from tests.browser.watch import Watched

# Operations as Swagger UI names them (FastAPI's operation ids), with their examples.
OPERATIONS = {f"derivatives-{op}_v1_{op}_post": list(examples.OPERATIONS[op])
              for op in adcore.OPERATIONS}
OPERATIONS["functions-register_function_v1_functions_post"] = ["rosenbrock"]


SHOWN = """([block, expected]) => {
    const shown = document.querySelector(
        `#${block} .live-responses-table .response .response-col_description pre`);
    try { return JSON.stringify(JSON.parse(shown.textContent)) === JSON.stringify(expected); }
    catch { return false; }
}"""
STATUS = ".live-responses-table .response .response-col_status"


def execute_examples(watched: Watched, operation_id: str, names: list[str]
                     ) -> dict[str, tuple[int, str]]:
    """Run each example of one operation through the UI: expand it, "Try it out", pick the
    example, "Execute"; once the page shows the answer the browser received, the status
    the page shows and that answer."""
    page = watched.page
    block_id = f"operations-{operation_id}"
    block = page.locator(f"#{block_id}")
    block.locator(".opblock-summary").first.click()
    block.get_by_role("button", name="Try it out").click()
    select = block.locator(".examples-select select").first
    shown = {}
    for name in names:
        select.select_option(name)
        with page.expect_response(lambda r: "/v1/" in r.url) as answer:
            block.locator("button.execute").click()
        received = answer.value.json()
        page.wait_for_function(SHOWN, arg=[block_id, received])
        shown[name] = (int(block.locator(STATUS).first.inner_text()), received)
    return shown


def test_swagger_ui_lists_and_executes_every_example(browser_page: Watched) -> None:
    browser_page.goto("/docs")
    page = browser_page.page
    page.wait_for_selector(".opblock")
    listed = page.locator(".opblock").evaluate_all("blocks => blocks.map(b => b.id)")
    assert {f"operations-{op}" for op in OPERATIONS} <= set(listed)
    for operation_id, names in OPERATIONS.items():
        for name, (status, body) in execute_examples(browser_page, operation_id, names).items():
            assert status == (201 if "functions" in operation_id else 200), (name, body)
            assert "id" in body, (operation_id, name, body)
    browser_page.check()


def test_swagger_ui_shows_a_problem_answer(browser_page: Watched) -> None:
    """An example edited into a syntax error: the page shows the 422 problem and its position
    (the browser logs the 422 itself, which is expected here)."""
    browser_page.goto("/docs")
    page = browser_page.page
    block = page.locator("#operations-derivatives-evaluate_v1_evaluate_post")
    block.locator(".opblock-summary").click()
    block.get_by_role("button", name="Try it out").click()
    block.locator("textarea.body-param__text").fill(
        json.dumps({"program": "sin(x) +", "at": {"x": 1.0}}))
    with page.expect_response(lambda r: "/v1/evaluate" in r.url) as answer:
        block.locator("button.execute").click()
    problem = answer.value.json()
    page.wait_for_function(SHOWN, arg=["operations-derivatives-evaluate_v1_evaluate_post", problem])
    assert block.locator(STATUS).first.inner_text() == "422"
    assert (problem["kind"], problem["line"], problem["column"]) == ("syntax", 1, 9)
    browser_page.check(allowed=(r"status of 422 .*/v1/evaluate",))


def test_redoc_renders_every_operation_offline(browser_page: Watched) -> None:
    browser_page.goto("/redoc")
    page = browser_page.page
    page.wait_for_selector("text=Gradient of a scalar program, per wrt input", state="attached")
    menu = page.locator("[role=menuitem]").all_inner_texts()
    for summary in ("Value of the program", "Hessian-vector product with tangents v",
                    "Register a program; its id is a hash of the normalized text"):
        assert any(summary in item for item in menu), summary
    logo = page.locator("img[alt='redocly logo']")
    assert logo.count() == 0 or logo.get_attribute("src").startswith("data:")
    browser_page.check()
