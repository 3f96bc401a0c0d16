"""Pydantic models of the HTTP API (SPEC §4), apart from adcore's own types.

Arrays are typed for the docs only (`Array`: a number, one of the non-finite strings, a
list of arrays, or an `EncodedArray` object) and skip pydantic's validation: `convert.py`
checks them strictly and much faster, straight into numpy. Everything else is validated
strictly (no "1" -> 1, no "true" -> True) and unknown fields are refused, so a typo such as
`diagonl` is a 422, not a silently ignored option.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SkipValidation, model_validator
from typing_extensions import TypeAliasType

from . import examples
from .encoding import DTYPES

NonFinite = Literal["NaN", "Infinity", "-Infinity"]
ArrayList = TypeAliasType("ArrayList", "float | NonFinite | list[ArrayList]")  # type: ignore[misc]
Dtype = Literal[tuple(DTYPES)]  # type: ignore[valid-type]


class Base64Data(BaseModel):
    buffer: str = Field(description="base64 (standard alphabet, '=' padding) of the "
                        "little-endian, C-order bytes")
    encoding: Literal["base64"]


class JsonData(BaseModel):
    buffer: ArrayList = Field(description="the numbers, as a nested or flat list")
    encoding: Literal["json"]


class BinaryData(BaseModel):
    encoding: Literal["binary"]
    binary_data_size: int = Field(ge=0, description="bytes of this array in the binary part "
                                  "of a framed body (application/octet-stream)")
    binary_data_offset: int | None = Field(None, ge=0, description="where they start, from "
                                           "the end of the JSON part; optional in requests")


class EncodedArray(BaseModel):
    """tesseract-core's array object: shape, dtype and a buffer (base64, json or binary).
    Requests may use float32 and integer dtypes (read as float64); answers are float64
    (int64 for the indices of sparse blocks)."""

    model_config = ConfigDict(title="EncodedArray")
    object_type: Literal["array"]
    shape: list[int] = Field(description="dimensions, [] for a scalar")
    dtype: Dtype = Field(description="little-endian, by numpy's name")
    data: Base64Data | JsonData | BinaryData = Field(discriminator="encoding")


Array = ArrayList | EncodedArray
ArrayIn = Annotated[Array, SkipValidation]
Mode = Literal["auto", "forward", "reverse"]
Triangle = Literal["both", "lower"]
PatternOf = Literal["jacobian", "hessian"]

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

    at: dict[str, ArrayIn] = Field(
        description="input name -> nested list of numbers or array object")
    batch: list[str] | None = Field(
        None, description="inputs carrying a leading batch axis (same length B for all)")
    wrt: list[str] | str | None = Field(
        None, description="inputs to differentiate (default: all)")
    v: dict[str, ArrayIn] | None = Field(
        None, description="hvp/jvp: a tangent per wrt input, per point if one axis longer")
    u: ArrayIn | None = Field(None, description="vjp: a cotangent shaped like the result")
    mode: Mode = Field("auto", description="jacobian: forward, reverse or auto")
    diagonal: bool = Field(False, description="hessian: only the diagonal, O(n) memory")
    arrays: Literal["list", "base64", "binary"] | None = Field(
        None, description="form of the answer's arrays; default: from the Accept header "
        "(application/json+base64: base64, application/octet-stream: binary), else list")
    sparse: bool = Field(False, description="jacobian, hessian: detect the pattern, colour it "
                         "and compute only the nonzeros, as COO blocks")
    triangle: Triangle = Field("both", description="sparse hessian: both triangles, or "
                               "only the lower one (row >= column)")
    of: PatternOf | None = Field(None, description="sparsity: the pattern of the jacobian or "
                                 "of the hessian")


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


class Coloring(BaseModel):
    """How a sparse derivative is computed: one derivative pass per colour."""

    mode: Literal["forward", "reverse", "star", "dense", "empty"] = Field(
        description="forward (JVPs, column colouring), reverse (VJPs, row colouring), "
        "star (Hessian-vector products, star colouring), dense (colouring saves nothing), "
        "empty (no nonzero)")
    colors: int = Field(description="colours (dense: directions)")
    lower_bound: int | None = Field(description="no colouring of this kind uses fewer")
    ordering: str | None = Field(description="the vertex order that gave the fewest colours")
    directions: int = Field(description="derivative passes per point")
    nonzeros: int = Field(description="stored entries over all blocks")


class CooBlock(BaseModel):
    """A sparse block: a 2-D matrix in coordinate form, 0-based, rows sorted."""

    format: Literal["coo"]
    shape: list[int] = Field(description="[rows, columns]: output elements (times the row "
                             "input's, for a Hessian) by input elements, C order")
    row: Array = Field(description="0-based row indices (int64 in encoded forms), sorted")
    col: Array = Field(description="0-based column indices (int64 in encoded forms)")
    data: Array | None = Field(None, description="the values (per point with a batch); "
                               "absent from sparsity results")
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
    coloring: Coloring | None = Field(None, description="sparse results and sparsity only")


class Result(BaseModel):
    id: str = Field(description="content id of the program")
    value: Array = Field(description="the program's value (per point with a batch)")
    meta: Meta


class EvaluateResponse(Result):
    pass


class GradientResponse(Result):
    gradient: dict[str, Array]


class JacobianResponse(Result):
    jacobian: dict[str, Array | CooBlock] = Field(
        description="per wrt input: shape O + I, or a COO block with sparse")


class HessianResponse(Result):
    hessian: dict[str, dict[str, Array | CooBlock]] | None = Field(
        None, description="hessian[xi][xj]: shape O + Ii + Ij, or a COO block with sparse")
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


class SparsityResponse(BaseModel):
    id: str = Field(description="content id of the program")
    jacobian: dict[str, CooBlock] | None = Field(None, description="with of: jacobian")
    hessian: dict[str, dict[str, CooBlock]] | None = Field(None, description="with of: hessian")
    meta: Meta


RESPONSES: dict[str, type[BaseModel]] = {
    "evaluate": EvaluateResponse, "gradient": GradientResponse,
    "jacobian": JacobianResponse, "hessian": HessianResponse, "hvp": HvpResponse,
    "jvp": JvpResponse, "vjp": VjpResponse, "laplacian": LaplacianResponse,
    "sparsity": SparsityResponse,
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
