"""Pydantic models of the HTTP API (SPEC §4), apart from adcore's own types.

Arrays are typed for the docs only (`Array`: a number, one of the non-finite strings, or a
list of arrays) and skip pydantic's validation: `convert.py` checks them strictly and much
faster, straight into numpy. Everything else is validated strictly (no "1" -> 1, no
"true" -> True) and unknown fields are refused, so a typo such as `diagonl` is a 422, not
a silently ignored option.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SkipValidation, model_validator
from typing_extensions import TypeAliasType

from . import examples

NonFinite = Literal["NaN", "Infinity", "-Infinity"]
Array = TypeAliasType("Array", "float | NonFinite | list[Array]")  # type: ignore[misc]
ArrayIn = Annotated[Array, SkipValidation]
Mode = Literal["auto", "forward", "reverse"]

_STRICT = ConfigDict(strict=True, extra="forbid")


class FunctionCreate(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid",
                              json_schema_extra={"examples": [examples.REGISTER]})
    program: str = Field(description="program text (SPEC §2)")


class Diagnostic(BaseModel):
    severity: Literal["info", "warning"]
    message: str


class FunctionInfo(BaseModel):
    id: str = Field(description="content hash of the normalized program")
    program: str = Field(description="the text as first registered")
    inputs: list[str] = Field(description="input names in order of first appearance")
    normalized: str = Field(description="canonical text the id is computed from")
    created: str = Field(description="first registration, ISO 8601 UTC")
    diagnostics: list[Diagnostic] = []


class ProgramBody(BaseModel):
    """A body naming its program: inline text or a registered id, exactly one."""

    model_config = _STRICT
    program: str | None = Field(None, description="inline program text; or give `function`")
    function: str | None = Field(None, description="id of a registered program")

    @model_validator(mode="after")
    def _one_program(self) -> ProgramBody:
        if (self.program is None) == (self.function is None):
            raise ValueError("give exactly one of 'program' (inline text) or 'function' (id)")
        return self


class DerivativeRequest(ProgramBody):
    """One operation of SPEC §3 at one point or a batch of points."""

    at: dict[str, ArrayIn] = Field(description="input name -> nested list of numbers")
    batch: list[str] | None = Field(
        None, description="inputs carrying a leading batch axis (same length B for all)")
    wrt: list[str] | str | None = Field(
        None, description="inputs to differentiate (default: all)")
    v: dict[str, ArrayIn] | None = Field(
        None, description="hvp/jvp: a tangent per wrt input, per point if one axis longer")
    u: ArrayIn | None = Field(None, description="vjp: a cotangent shaped like the result")
    mode: Mode = Field("auto", description="jacobian: forward, reverse or auto")
    diagonal: bool = Field(False, description="hessian: only the diagonal, O(n) memory")


DeriveOperation = Literal["gradient", "jacobian", "hessian", "hvp", "jvp", "vjp", "laplacian"]


class DeriveRequest(ProgramBody):
    """The derivative as programs in the language (SPEC §3 `derive`), for the input shapes
    given by `at` (arrays, only their shapes matter) or `shapes`."""

    model_config = ConfigDict(strict=True, extra="forbid",
                              json_schema_extra={"examples": [examples.DERIVE_BODY]})
    operation: DeriveOperation = Field(description="the operation whose results to derive")
    wrt: list[str] | str | None = Field(
        None, description="inputs to differentiate (default: all)")
    at: dict[str, ArrayIn] | None = Field(
        None, description="input name -> array: fixes the shapes (or give `shapes`)")
    shapes: dict[str, list[int]] | None = Field(
        None, description='input name -> its shape, like {"x": [3], "M": [2, 3]}')
    mode: Mode = Field("auto", description="jacobian: forward, reverse or auto")
    diagonal: bool = Field(False, description="hessian: only the diagonal, per wrt input")
    format: Literal["text", "latex"] = Field(
        "text", description="latex: also LaTeX of each program whose values are all scalars")

    @model_validator(mode="after")
    def _one_shape(self) -> DeriveRequest:
        if (self.at is None) == (self.shapes is None):
            raise ValueError("give exactly one of 'at' (arrays) or 'shapes' (sizes)")
        return self


class DerivedProgram(BaseModel):
    program: str = Field(description="program text; evaluating it gives this result")
    id: str = Field(description="the id it registers under (POST /v1/functions)")
    inputs: list[str] = Field(description="its inputs: the original's, then v_<name> or u")
    shape: list[int] = Field(description="shape of its result")
    latex: str | None = Field(None, description="with format latex: the program in LaTeX, "
                              "or null when it holds arrays")


class DeriveMeta(BaseModel):
    compile_ms: float = Field(description="time to derive and write the programs")


class DeriveResponse(BaseModel):
    id: str = Field(description="content id of the original program")
    operation: DeriveOperation
    wrt: list[str] = Field(description="the differentiated inputs, in input order")
    programs: dict[str, DerivedProgram | dict[str, DerivedProgram]] = Field(
        description="keyed like the operation's results: programs[x] (gradient, jacobian, "
                    "hvp, vjp, hessian with diagonal), programs[x][y] (hessian), "
                    "programs['jvp'], programs['laplacian']")
    meta: DeriveMeta


class Meta(BaseModel):
    cache: Literal["hit", "miss"] = Field(description="kernel cache hit or miss")
    compile_ms: float = Field(description="time to build the kernel (0 on a hit)")
    run_ms: float = Field(description="time to run the kernel")
    flops: float = Field(description="static estimate of the work, flops")


class Result(BaseModel):
    id: str = Field(description="content id of the program")
    value: Array = Field(description="the program's value (per point with a batch)")
    meta: Meta


class EvaluateResponse(Result):
    pass


class GradientResponse(Result):
    gradient: dict[str, Array]


class JacobianResponse(Result):
    jacobian: dict[str, Array] = Field(description="per wrt input: shape O + I")


class HessianResponse(Result):
    hessian: dict[str, dict[str, Array]] | None = Field(
        None, description="hessian[xi][xj]: shape O + Ii + Ij")
    hessian_diagonal: dict[str, Array] | None = Field(
        None, description="with diagonal: true, per wrt input: shape O + I")


class HvpResponse(Result):
    hvp: dict[str, Array]


class JvpResponse(Result):
    jvp: Array = Field(description="directional derivative, shape O")


class VjpResponse(Result):
    vjp: dict[str, Array]


class LaplacianResponse(Result):
    laplacian: Array = Field(description="trace of the Hessian over the wrt inputs, shape O")


RESPONSES: dict[str, type[Result]] = {
    "evaluate": EvaluateResponse, "gradient": GradientResponse,
    "jacobian": JacobianResponse, "hessian": HessianResponse, "hvp": HvpResponse,
    "jvp": JvpResponse, "vjp": VjpResponse, "laplacian": LaplacianResponse,
}


class Problem(BaseModel):
    """RFC 9457 problem details, with the program error fields of SPEC §2.5."""

    model_config = ConfigDict(extra="allow")
    type: str = Field(description="/problems/<kind>")
    title: str
    status: int
    detail: str
    instance: str | None = None
    kind: str = Field(description="syntax, name, type, shape, limit, request, validation, ...")
    line: int | None = Field(None, description="1-based, for program errors")
    column: int | None = Field(None, description="1-based, in code points")
    excerpt: str | None = Field(None, description="the source line and a caret")
    hint: str | None = None
    limit: str | None = Field(None, description="for kind limit: the limit's name")
    value: float | None = Field(None, description="for kind limit: the limit's value")
    errors: list[dict[str, Any]] | None = Field(None, description="for kind validation")


class Health(BaseModel):
    status: Literal["ok"]
    version: str


class LimitsInfo(BaseModel):
    max_program_chars: int
    max_depth: int
    max_ir_equations: int
    max_array_elements: int
    max_flops: float
    max_body_bytes: int
    max_seconds: float
    max_concurrent: int
    body_timeout_s: float


class CacheInfo(BaseModel):
    entries: int
    max_entries: int
    bytes: int = Field(description="estimated bytes of the cached kernels")
    max_bytes: int
    hits: int
    misses: int
    evictions: int
    hit_rate: float
