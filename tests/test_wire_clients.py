"""Clients outside the server's process, against a real uvicorn: the light Python client
(numpy and httpx only, with the server's and the compiler's packages unimportable), and the
JavaScript reader and writer of docs/readers/ run by Node. Expectations are the closed-form
gradient of Rosenbrock, computed here with numpy."""

from __future__ import annotations

import importlib.metadata
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.servers import ROOT, uvicorn_server

ROSENBROCK = "sum(100*(x[1:]-x[:-1]^2)^2 + (1-x[:-1])^2)"
READERS = ROOT / "docs" / "readers"
BLOCKED = ("fastapi", "starlette", "pydantic", "pydantic_settings", "uvicorn", "orjson",
           "adcore", "numba", "scipy", "pybase64")


def rosenbrock_gradient(x: np.ndarray) -> np.ndarray:
    """Per point (rows of x)."""
    g = np.zeros_like(x)
    inner = x[:, 1:] - x[:, :-1] ** 2
    g[:, :-1] = -400 * x[:, :-1] * inner - 2 * (1 - x[:, :-1])
    g[:, 1:] += 200 * inner
    return g


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with uvicorn_server(tmp_path_factory.mktemp("wire-clients")) as (base, _):
        yield base


LIGHT = """
import importlib.abc, json, sys
BLOCKED = set(sys.argv[2].split(","))

class Unimportable(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is not installed here")

sys.meta_path.insert(0, Unimportable())
import numpy as np
from service.client import Client

x = np.array(json.loads(sys.argv[3]))
out = {}
for arrays in ("list", "base64", "binary", "auto"):
    with Client(sys.argv[1], arrays=arrays, binary_from_bytes=64) as nabla:
        result = nabla.gradient(sys.argv[4], at={"x": x}, batch=["x"])
        out[arrays] = result["gradient"]["x"].tolist()
        assert result["gradient"]["x"].flags.writeable
loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
print(json.dumps({"gradients": out, "loaded": loaded}))
"""


def test_the_light_client_needs_only_numpy_and_httpx(server: str) -> None:
    x = np.random.default_rng(5).uniform(-1.5, 1.5, (6, 5))
    done = subprocess.run(
        [sys.executable, "-c", LIGHT, server, ",".join(BLOCKED), json.dumps(x.tolist()),
         ROSENBROCK], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["loaded"] == []
    for arrays, gradient in report["gradients"].items():
        np.testing.assert_allclose(gradient, rosenbrock_gradient(x), rtol=1e-12, err_msg=arrays)


def test_the_distribution_declares_only_numpy_and_httpx() -> None:
    requires = importlib.metadata.requires("nabla") or []
    base = sorted(re.split(r"[<>=!~ \[;]", r)[0] for r in requires if "extra ==" not in r)
    assert base == ["httpx", "numpy"]


NODE = """
import { binaryArray, frame, readAnswer } from "./nabla_binary.mjs";
const [url, program, points, n] = process.argv.slice(2);
const x = new Float64Array(JSON.parse(points));
const parts = [];
const body = {program, batch: ["x"], at: {x: binaryArray(x, [x.length / n, Number(n)], parts)}};
const {body: content, headers} = frame(body, parts);
const response = await fetch(url + "/v1/gradient", {
  method: "POST", body: content, headers: {...headers, accept: "application/octet-stream"}});
if (!response.ok) throw new Error(await response.text());
const answer = await readAnswer(response);
console.log(JSON.stringify({value: Array.from(answer.value.data), shape: answer.gradient.x.shape,
                            gradient: Array.from(answer.gradient.x.data)}));
"""


def test_the_javascript_reader_and_writer_with_node(server: str, tmp_path: Path) -> None:
    node = shutil.which("node")
    assert node is not None, "Node.js is installed by `make test` (Makefile)"
    shutil.copy(READERS / "nabla_binary.mjs", tmp_path)
    (tmp_path / "run.mjs").write_text(NODE)
    x = np.random.default_rng(6).uniform(-1.5, 1.5, (4, 3))
    done = subprocess.run([node, "run.mjs", server, ROSENBROCK, json.dumps(x.ravel().tolist()),
                           "3"], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["shape"] == [4, 3]
    np.testing.assert_allclose(np.reshape(answer["gradient"], (4, 3)), rosenbrock_gradient(x),
                               rtol=1e-12)
    value = (100 * (x[:, 1:] - x[:, :-1] ** 2) ** 2 + (1 - x[:, :-1]) ** 2).sum(axis=1)
    np.testing.assert_allclose(answer["value"], value, rtol=1e-12)


def test_the_docs_show_the_tested_readers() -> None:
    docs = (ROOT / "docs" / "arrays.md").read_text()
    for name in ("nabla_binary.mjs", "nabla_binary.jl"):
        assert (READERS / name).read_text().strip() in docs, name
