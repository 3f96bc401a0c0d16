"""The in-process API (SPEC §5): `compile(text)` -> `Program`, whose methods are the
operations of SPEC §3. The stages chain here: parse -> resolve -> lower -> derive -> vmap ->
simplify -> estimate -> codegen, with the compiled kernels cached per request signature.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from . import lazy_guards, sparse_plan
from . import operations as ops
from .builder import compile_budget
from .codegen import CompiledFunction, compile_function
from .cost import Estimate, estimate
from .derive import derive
from .errors import LimitExceededError, ProgramError, RequestError
from .fusion import background, fuse, fusion_available
from .ir import ArrayType, Function
from .limits import DEFAULT_LIMITS, Limits
from .lower import lower
from .parser import parse
from .request import Request, prepare
from .resolve import Resolved, resolve
from .simplify import simplify
from .unparse import content_id
from .vmap import vmap

OPERATIONS = ("evaluate", "gradient", "jacobian", "hessian", "hvp", "jvp", "vjp", "laplacian",
              "sparsity")
DIAGONAL_CHUNK_ELEMENTS = 2**22  # per-chunk working set of a Hessian diagonal sweep
HOT_CALLS = 3  # calls after which a kernel is worth fusing
MAX_FUSION_SAMPLE_S = 1.0  # slower kernels are not re-run in the background to time fusion


class KernelCache(Protocol):
    """What a `Program` needs of a cache: the service passes its own shared one."""

    def get_or_build(self, key: Any, build: Callable[[], Any]) -> Any: ...

    def __contains__(self, key: object) -> bool: ...


class LRU:
    """A small bounded, thread-safe mapping; a value is built outside the lock (two threads
    missing one key at once may both build it: the first stored wins)."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self._items: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._items

    def get_or_build(self, key: Any, build: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = build()
        with self._lock:
            value = self._items.setdefault(key, value)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return value


@dataclass
class Kernel:
    """A compiled plan for one request signature. Once called `HOT_CALLS` times, its
    elementwise chains are fused in the background and `compiled` is swapped for the
    fused code (same results, fewer passes over memory)."""

    operation: ops.Operation
    plan: Function
    compiled: CompiledFunction
    estimate: Estimate
    compile_ms: float
    sweep: tuple[int, int] | None = None  # (directions, chunk) of a Hessian diagonal
    calls: int = 0
    fused: Future | None = None

    @property
    def source(self) -> str:
        return self.compiled.source  # type: ignore[attr-defined]

    def __call__(self, *args: np.ndarray) -> tuple[np.ndarray, ...]:
        self.calls += 1
        start = time.perf_counter()
        outputs = self.compiled(*args)
        seconds = time.perf_counter() - start
        if self.calls == HOT_CALLS and seconds < MAX_FUSION_SAMPLE_S and fusion_available():
            self.fused = background().submit(self._fuse, args, 5 if seconds < 0.05 else 1)
        return outputs

    def _fuse(self, sample: tuple[np.ndarray, ...], repeats: int) -> bool:
        """Fuse, then keep whichever version runs these arguments faster: fusion saves
        passes over memory but can lose to numpy's own loops (broadcast operands, BLAS-sized
        pieces), so we measure rather than guess (briefly: heavy kernels get one timing)."""
        guarded, guards = lazy_guards.lower(self.plan, broadcast_only=True)
        fused_plan, loops = fuse(guarded)
        if not loops:
            return False
        candidate = compile_function(fused_plan, {**guards, **loops})
        if _best_time(candidate, sample, repeats) < 0.9 * _best_time(self.compiled, sample,
                                                                      repeats):
            self.compiled = candidate
            return True
        return False


def _best_time(fn: CompiledFunction, args: tuple[np.ndarray, ...], repeats: int) -> float:
    fn(*args)  # first call: lazy numba and numpy setup
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn(*args)
        best = min(best, time.perf_counter() - start)
    return best


def program_id(resolved: Resolved) -> str:
    return content_id(resolved.program)


def compile(source: str, limits: Limits = DEFAULT_LIMITS) -> Program:
    """Parse and resolve a program; errors carry line, column and a caret excerpt."""
    try:
        return Program(source, resolve(parse(source, limits)), limits)
    except ProgramError as err:
        raise err.locate(source) from None


class Program:
    def __init__(self, source: str, resolved: Resolved, limits: Limits = DEFAULT_LIMITS,
                 kernels: KernelCache | None = None):
        self.source = source
        self.resolved = resolved
        self.inputs: tuple[str, ...] = resolved.inputs
        self.limits = limits
        self.id = program_id(resolved)
        self.kernels: KernelCache = kernels if kernels is not None else LRU(64)
        self._lowered = LRU(16)
        self.derivations = LRU(16)  # derive's answers, by shapes and options

    # ---- the operations of SPEC §3 ----

    def evaluate(self, at: Mapping[str, Any], **options: Any) -> dict:
        return self.run("evaluate", at, **options)

    def gradient(self, at: Mapping[str, Any], **options: Any) -> dict:
        return self.run("gradient", at, **options)

    def jacobian(self, at: Mapping[str, Any], **options: Any) -> dict:
        return self.run("jacobian", at, **options)

    def hessian(self, at: Mapping[str, Any], **options: Any) -> dict:
        return self.run("hessian", at, **options)

    def hvp(self, at: Mapping[str, Any], **options: Any) -> dict:
        return self.run("hvp", at, **options)

    def jvp(self, at: Mapping[str, Any], **options: Any) -> dict:
        return self.run("jvp", at, **options)

    def vjp(self, at: Mapping[str, Any], **options: Any) -> dict:
        return self.run("vjp", at, **options)

    def laplacian(self, at: Mapping[str, Any], **options: Any) -> dict:
        return self.run("laplacian", at, **options)

    def sparsity(self, at: Mapping[str, Any], **options: Any) -> dict:
        """The Jacobian or Hessian pattern (`of`) and its colouring; only shapes are used."""
        return self.run("sparsity", at, **options)
    def derive(self, operation: str, **options: Any) -> dict:
        """The derivative as programs in the language (SPEC §3 `derive`); options: wrt,
        at or shapes, mode, diagonal. Cached per operation, shapes and options."""
        try:
            return derive(self, operation, **options)
        except ProgramError as err:
            raise err.locate(self.source) from None

    def run(self, operation: str, at: Mapping[str, Any], **options: Any) -> dict:
        """One operation at `at`; options: wrt, batch, v, u, mode, diagonal, sparse, triangle,
        of (SPEC §3)."""
        request = self.prepare(operation, at, **options)
        kernel, _ = self.kernel(request)
        return self.execute(kernel, request)

    def prepare(self, operation: str, at: Mapping[str, Any], *,
                wrt: Sequence[str] | None = None, batch: Sequence[str] | None = None,
                v: Mapping[str, Any] | None = None, u: Any = None, mode: str = "auto",
                diagonal: bool = False, sparse: bool = False, triangle: str = "both",
                of: str | None = None) -> Request:
        """Validate a request against the program (a `request` error otherwise)."""
        if operation not in OPERATIONS:
            raise RequestError(f"unknown operation '{operation}'",
                               hint=f"one of {', '.join(OPERATIONS)}")
        return prepare(self.inputs, operation, at, wrt, batch, v, u, mode, diagonal,
                       sparse=sparse, triangle=triangle, of=of)

    # ---- planning and running ----

    def lowered(self, types: tuple[ArrayType, ...]) -> Function:
        def build() -> Function:
            try:
                return simplify(lower(self.resolved, dict(zip(self.inputs, types)),
                                      self.limits))
            except RecursionError:
                # Inlined calls nest expressions beyond what the parser's depth check sees.
                raise LimitExceededError(
                    "function calls nest too deeply", None,
                    "inline fewer levels of nested definitions", limit="max_depth",
                    value=self.limits.max_depth) from None

        return self._lowered.get_or_build(types, build)

    def kernel_key(self, request: Request) -> tuple[Any, ...]:
        """The cache key of the request's kernel (SPEC §4: program, shapes, batch, operation,
        options)."""
        return (self.id, request.signature())

    def kernel(self, request: Request) -> tuple[Kernel, bool]:
        """The compiled kernel for the request's signature and whether it was cached.
        Refuses (a `limit` error) a plan over the work budget before anything runs."""
        key = self.kernel_key(request)
        hit = key in self.kernels
        try:
            return self.kernels.get_or_build(key, lambda: self._build(request)), hit
        except ProgramError as err:
            raise err.locate(self.source) from None

    def _build(self, request: Request) -> Kernel:
        try:
            with compile_budget(self.limits):
                return self._plan(request)
        except LimitExceededError as err:
            raise self._with_alternatives(err, request) from None

    def _with_alternatives(self, err: LimitExceededError, request: Request
                           ) -> LimitExceededError:
        """Say what would fit: a smaller batch, a Hessian diagonal or an HVP."""
        hints = [err.hint] if err.hint else []
        if request.operation == "hessian" and not request.diagonal:
            hints.append("diagonal: true or hvp need far less than a full Hessian")
        if request.operation in ("jacobian", "hessian") and not request.sparse:
            hints.append("sparse: true computes only the nonzeros")
        elif request.sparse:
            hints.append("this derivative is dense (or too costly to colour), so its sparse "
                         "plan is the dense one")
        if request.size and err.limit in ("max_flops", "max_array_elements"):
            hints.append("or split the batch into smaller requests")
        err.hint = "; ".join(hints) or None
        return err

    def _plan(self, request: Request) -> Kernel:
        start = time.perf_counter()
        fn = self.lowered(request.types)
        request.check_outputs(fn)
        sweep = None
        if request.operation in ("laplacian", "hessian") and (
                request.diagonal or request.operation == "laplacian"):
            chunk, directions = self._diagonal_chunk(fn, request)
            operation = ops.diagonal_rows(fn, request.wrt_indices, self.limits, chunk)
            sweep = (directions, chunk)
        elif request.sparse or request.operation == "sparsity":
            operation = self._sparse(fn, request)
        else:
            operation = self.operation(fn, request)
        plan = self._batched(operation, request)
        cost = estimate(plan)
        repeats = 1 if sweep is None else -(-sweep[0] // sweep[1])
        self._check_budget(cost.times(repeats), request)
        compiled = compile_function(plan)
        return Kernel(operation, plan, compiled, cost.times(repeats),
                      (time.perf_counter() - start) * 1e3, sweep)

    def operation(self, fn: Function, request: Request) -> ops.Operation:
        """The plan of the request's operation at one point (no batch, no sweep)."""
        wrt, limits, span = request.wrt_indices, self.limits, self.resolved.program.result.span
        match request.operation:
            case "evaluate":
                return ops.evaluate(fn, wrt, limits)
            case "gradient":
                return ops.gradient(fn, wrt, limits, span)
            case "jacobian":
                return ops.jacobian(fn, wrt, limits, request.mode)
            case "hessian":
                return ops.hessian(fn, wrt, limits)
            case "hvp":
                return ops.hvp(fn, wrt, limits, span)
            case "jvp":
                return ops.jvp_operation(fn, wrt, limits)
            case "vjp":
                return ops.vjp_operation(fn, wrt, limits)
        raise RequestError(f"unknown operation '{request.operation}'")

    def _sparse(self, fn: Function, request: Request) -> ops.Operation:
        """Pattern and colouring now, from the shapes; compressed evaluation at run time."""
        if request.of == "jacobian" or request.operation == "jacobian":
            plan = sparse_plan.jacobian(fn, request.wrt_indices, request.mode, self.limits)
        else:
            plan = sparse_plan.hessian(fn, request.wrt_indices, request.triangle, self.limits)
        if request.operation == "sparsity":
            return sparse_plan.pattern_operation(plan, fn)
        self.limits.check("max_array_elements", (request.size or 1) * plan.nnz,
                          self.limits.max_array_elements,
                          f"the {plan.nnz} nonzeros per point of this result",
                          hint="ask for fewer points at once")
        return sparse_plan.operation(plan, fn.outputs[0].type.ndim)

    def _batched(self, operation: ops.Operation, request: Request) -> Function:
        if request.size is None:
            return operation.function
        flags = request.batched_flags(operation.extras)
        return simplify(vmap(operation.function, flags, request.size, self.limits))

    def _diagonal_chunk(self, fn: Function, request: Request) -> tuple[int, int]:
        """Directions per pass: as many as fit the working-set budget, so a diagonal over
        n inputs never builds an n x n array."""
        directions = sum(fn.inputs[i].type.size for i in request.wrt_indices)
        one = self._batched(ops.diagonal_rows(fn, request.wrt_indices, self.limits, 1), request)
        per_direction = max(1, estimate(one).max_elements)
        budget = min(DIAGONAL_CHUNK_ELEMENTS, self.limits.max_array_elements)
        return max(1, min(directions, budget // per_direction)), directions

    def _check_budget(self, cost: Estimate, request: Request) -> None:
        limit = self.limits.max_flops
        if cost.flops <= limit:
            return
        hint = None
        if request.size:
            fits = int(request.size * limit / cost.flops)
            hint = (f"a batch of at most {fits} points would fit" if fits else
                    "even one point is over the budget")
        self.limits.check("max_flops", cost.flops, limit, "the estimated work in flops",
                          None, hint)

    def execute(self, kernel: Kernel, request: Request) -> dict:
        """Run a kernel; results are numpy arrays (batched ones with the leading axis B)."""
        args = request.arguments(kernel.operation.extras) + list(kernel.operation.constants)
        if kernel.sweep is None:
            return kernel.operation.assemble(kernel(*args))
        directions, chunk = kernel.sweep
        axis = 1 if request.size is not None else 0
        parts, value = [], None
        for start in range(0, directions, chunk):  # chunks of directions, not single ones
            rows = np.zeros((chunk, directions))
            count = min(chunk, directions - start)
            rows[np.arange(count), start + np.arange(count)] = 1.0
            value, block = kernel(*args, rows)
            parts.append(block[(slice(None),) * axis + (slice(0, count),)])
        stacked = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=axis)
        shapes = [t.shape for t in request.wrt_types()]
        diagonal = ops.split_diagonal(stacked, shapes, request.size is not None)
        if request.operation == "laplacian":
            total = np.zeros(np.shape(value))
            for part, shape in zip(diagonal, shapes):
                total = total + np.sum(part, axis=tuple(range(part.ndim - len(shape), part.ndim)))
            return {"value": value, "laplacian": total}
        return {"value": value, "hessian_diagonal": dict(zip(request.wrt, diagonal))}
