"""The service's one stateful object: settings, store, compute pool and metrics, and the
three things the routes ask of them. Handlers are thin wrappers over `adcore.Program`
(SPEC §5): parse the body, find the program, prepare, take the kernel, execute, encode.

The methods taking raw bytes run on worker threads (`ComputePool`): JSON parsing of a 2 MB
body and numpy conversion are CPU work too, and stay off the event loop with the rest.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from typing import Any, TypeVar

import numpy as np
from pydantic import ValidationError

import adcore
from adcore import ProgramError
from adcore.api import Kernel
from adcore.errors import LimitExceededError
from adcore.request import Request
from adcore.unparse import normalize

from . import convert, framing
from .bodies import Incoming, parse_json
from .cache import BoundedCache
from .compute import ComputePool, current_cancel_event
from .convert import Reply
from .metrics import Metrics
from .problems import ProblemException
from .registry import StoredFunction, open_registry
from .schemas import DerivativeRequest, DeriveRequest, FunctionCreate, ProgramBody
from .settings import Settings
from .store import FunctionStore, kernel_bytes

log = logging.getLogger("nabla.service")
T = TypeVar("T")

# The inline path: bodies up to 16 KiB parse in ~10 us; kernels of at most 256 equations and
# 1e5 estimated flops run in well under a millisecond (numpy's ~1 us per call dominates).
INLINE_MAX_BODY = 16 * 1024
INLINE_MAX_EQUATIONS = 256
INLINE_MAX_FLOPS = 1e5
INLINE_MAX_HELD_BYTES = 64 * 1024  # a sparse plan's pattern: its answer is that big too


class StoppableKernel:
    """A kernel with a Hessian-diagonal sweep, seen through a check before each chunk:
    `Program.execute` calls the kernel once per chunk of basis directions, so once the
    request is over `max_seconds` (its client already has its 422) the sweep stops at the
    next chunk and frees its compute slot, instead of running to the end unseen."""

    def __init__(self, kernel: Kernel, cancelled: threading.Event, max_seconds: float):
        self._kernel = kernel
        self._cancelled = cancelled
        self._max_seconds = max_seconds

    def __getattr__(self, name: str) -> Any:
        return getattr(self._kernel, name)

    def __call__(self, *args: np.ndarray) -> tuple[np.ndarray, ...]:
        if self._cancelled.is_set():
            raise LimitExceededError(
                f"the computation ran longer than max_seconds = {self._max_seconds:g}",
                limit="max_seconds", value=self._max_seconds)
        return self._kernel(*args)


_quiet = threading.local()


def quietly(fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)` with numpy's floating-point warnings off: IEEE results (inf, nan) are
    answers, not warnings. It runs in a context made once per thread that holds only that
    setting; entering `np.errstate` anew cost ~0.9 us a call, about 2% of the instructions
    of a small cached request."""
    context = getattr(_quiet, "context", None)
    if context is None:
        context = _quiet.context = contextvars.Context()
        context.run(np.errstate(all="ignore").__enter__)
    return context.run(fn, *args)


def is_kernel(value: Any) -> bool:
    return isinstance(value, Kernel)


def cheap(kernel: Kernel) -> bool:
    estimate = kernel.estimate
    return (estimate.equations <= INLINE_MAX_EQUATIONS and estimate.flops <= INLINE_MAX_FLOPS
            and kernel.sweep is None and kernel.operation.held_bytes <= INLINE_MAX_HELD_BYTES)


def _version() -> str:
    try:
        return version("nabla")
    except PackageNotFoundError:  # running from a checkout without `pip install -e .`
        return "0+unknown"


def unknown_function(function_id: str) -> ProblemException:
    return ProblemException(404, "unknown-function",
                            f"no function with id '{function_id[:80]}' is registered here",
                            function=function_id[:80])


class Nabla:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.limits = settings.limits()
        self.version = _version()
        self.metrics = Metrics()
        # Compiled kernels outlive any one program object: one bounded cache for all.
        self.kernels = BoundedCache(settings.cache_entries, settings.cache_bytes, kernel_bytes,
                                    validate=is_kernel)
        self.pool = ComputePool(settings.max_concurrent, settings.max_seconds,
                                settings.retry_after_s)
        self._store: FunctionStore | None = None
        self._store_lock = threading.Lock()

    @property
    def store(self) -> FunctionStore:
        """Opened on first use, so building the app (say, to export OpenAPI) touches no disk."""
        if self._store is None:
            with self._store_lock:
                if self._store is None:
                    self._store = FunctionStore(
                        open_registry(self.settings), self.limits, self.kernels,
                        program_entries=self.settings.program_cache_entries)
        return self._store

    def open_store(self) -> bool:
        """At start-up: connect and bring the schema up to date (False, logged, if the
        database cannot be reached now; the next request that needs it tries again)."""
        return self.store.registry.open()

    # ---- on worker threads ----

    def register(self, raw: bytes) -> tuple[bytes, bool]:
        body = FunctionCreate.model_validate(parse_json(raw))
        program, stored, created = self.store.register(body.program)
        return convert.dumps(describe(program, stored, body.program)), created

    def function(self, function_id: str) -> bytes:
        found = self.store.lookup(function_id)
        if found is None:
            raise unknown_function(function_id)
        return convert.dumps(describe(*found))

    def derive(self, operation: str, incoming: Incoming) -> Reply:
        """One operation from its body."""
        program, request, form = self._accept(operation, incoming)
        kernel, hit = program.kernel(request)
        if not hit:
            self.metrics.observe_compile(kernel.compile_ms / 1e3)
            return self._run(program, kernel, request, hit, form)
        try:
            return self._run(program, kernel, request, hit, form)
        except (ProgramError, ProblemException, MemoryError):
            raise
        except Exception as err:  # noqa: BLE001
            # A cached kernel that fails to run is treated as a damaged entry: dropped and
            # built afresh, once. If the fresh one fails too, that is a real bug (a 500).
            log.warning("cached kernel for %s failed (%s: %s); rebuilding it", program.id,
                        type(err).__name__, err)
            self.kernels.discard(program.kernel_key(request))
            kernel, _ = program.kernel(request)
            self.metrics.observe_compile(kernel.compile_ms / 1e3)
            return self._run(program, kernel, request, False, form)

    def derive_programs(self, incoming: Incoming) -> Reply:
        """POST /v1/derive: the derivative as programs in the language (SPEC §3)."""
        body = DeriveRequest.model_validate(incoming.parse())
        program = self._program(body)
        at = None if body.at is None else convert.ArrayReader(
            self.limits.max_array_elements, incoming.payload).named(body.at, "input '{}'")
        start = time.perf_counter()
        derived = program.derive(body.operation, wrt=body.wrt, at=at, shapes=body.shapes,
                                 mode=body.mode, diagonal=body.diagonal, format=body.format)
        meta = {"compile_ms": round((time.perf_counter() - start) * 1e3, 3)}
        return convert.reply(derived, framing.requested_form(incoming.accept, None),
                             id=program.id, meta=meta)

    def derive_inline(self, operation: str, incoming: Incoming) -> Reply | None:
        """The same on the event loop, only when nothing heavy is left: the program is in
        memory (no parsing, no database), its kernel is compiled, and the kernel's static
        estimate is tiny. Returns None when any of that fails; the caller then uses the pool.
        Skipping the thread hop halves the CPU cost of a small cached request."""
        body = DerivativeRequest.model_validate(incoming.parse())
        program = self._program_in_memory(body)
        if program is None:
            return None
        request = self._prepare(program, operation, body, incoming)
        kernel = self.kernels.get(program.kernel_key(request), accept=cheap)
        if kernel is None:
            return None
        return self._run(program, kernel, request, True, self._form(body, incoming))

    def _accept(self, operation: str, incoming: Incoming
                ) -> tuple[adcore.Program, Request, str]:
        """The program, the prepared request and the answer's form. The parsed body is let
        go of once its arrays are numpy (a base64 batch's text would double its memory)."""
        body = DerivativeRequest.model_validate(incoming.parse())
        program = self._program(body)
        request = self._prepare(program, operation, body, incoming)
        incoming.parsed = None
        return program, request, self._form(body, incoming)

    @staticmethod
    def _form(body: DerivativeRequest, incoming: Incoming) -> str:
        return framing.requested_form(incoming.accept, body.arrays)

    def _prepare(self, program: adcore.Program, operation: str, body: DerivativeRequest,
                 incoming: Incoming) -> Request:
        arrays = convert.ArrayReader(self.limits.max_array_elements, incoming.payload)
        v = None if body.v is None else arrays.named(body.v, "v['{}']")
        u = None if body.u is None else arrays.one(body.u, "u")
        return program.prepare(operation, arrays.named(body.at, "input '{}'"),
                               wrt=body.wrt, batch=body.batch, v=v, u=u, mode=body.mode,
                               diagonal=body.diagonal, sparse=body.sparse,
                               triangle=body.triangle, of=body.of)

    def _run(self, program: adcore.Program, kernel: Kernel, request: Request,
             hit: bool, form: str) -> Reply:
        start = time.perf_counter()
        if kernel.sweep is not None:
            cancelled = current_cancel_event()
            if cancelled is not None:  # a sweep stops between chunks once its client gave up
                kernel = StoppableKernel(kernel, cancelled, self.settings.max_seconds)
        result = quietly(program.execute, kernel, request)
        run_ms = (time.perf_counter() - start) * 1e3
        meta = {"cache": "hit" if hit else "miss",
                "compile_ms": 0.0 if hit else round(kernel.compile_ms, 3),
                "run_ms": round(run_ms, 3), "flops": kernel.estimate.flops}
        coloring = result.pop("coloring", None)  # sparse results: how, in `meta`
        if coloring is not None:
            meta["coloring"] = coloring
        return convert.reply(result, form, id=program.id, meta=meta)

    def _program_in_memory(self, body: DerivativeRequest) -> adcore.Program | None:
        store = self._store  # not `self.store`: opening the database is not for the loop
        if store is None:
            return None
        if body.program is not None:
            return store.cached(body.program)
        assert body.function is not None
        return store.cached_id(body.function)

    def _program(self, body: ProgramBody) -> adcore.Program:
        if body.program is not None:
            return self.store.compile(body.program)
        assert body.function is not None
        program = self.store.program(body.function)
        if program is None:
            raise unknown_function(body.function)
        return program

    # ---- on the event loop ----

    async def compute(self, operation: str, incoming: Incoming) -> Reply:
        """Small JSON bodies are parsed here and tried inline; the rest goes to the pool."""
        if len(incoming.raw) > INLINE_MAX_BODY or incoming.header_length is not None:
            return await self.pool.run(self.derive, operation, incoming)
        try:
            content = self.derive_inline(operation, incoming)
        except (ProgramError, ProblemException, ValidationError, MemoryError):
            raise  # the client's error (or memory): answered as it is
        except Exception as err:  # noqa: BLE001
            # A cached entry that fails (damaged): the pool's path drops and rebuilds it.
            log.warning("inline %s failed (%s: %s); retrying on the pool", operation,
                        type(err).__name__, err)
            content = None
        if content is None:
            content = await self.pool.run(self.derive, operation, incoming)
        return content

    def cache_stats(self) -> dict[str, Any]:
        return self.kernels.stats()

    def metrics_text(self) -> str:
        return self.metrics.render(self.cache_stats(), self.pool.stats())

    def close(self) -> None:
        self.pool.shutdown()
        if self._store is not None:
            self._store.close()


def describe(program: adcore.Program, stored: StoredFunction,
             submitted: str | None = None) -> dict[str, Any]:
    diagnostics = []
    if not program.inputs:
        diagnostics.append({"severity": "warning",
                            "message": "the program has no inputs: every derivative is empty"})
    if submitted is not None and submitted != stored.program:
        diagnostics.append({"severity": "info", "message": "an equivalent program (same id) "
                            "was registered before; its text is kept"})
    return {"id": stored.id, "program": stored.program, "inputs": list(program.inputs),
            "normalized": normalize(program.resolved.program), "created": stored.created,
            "diagnostics": diagnostics}
