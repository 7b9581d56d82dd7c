"""Drive a chartguard stack through the Pulumi Automation API (``LocalWorkspace``).

:class:`StackDriver` runs ``up``, ``down`` (destroy), ``preview`` and ``refresh`` on
one stack of the project in ``settings.project_dir`` with the engine built into
``.tools/bin`` and the environment of :meth:`InfraSettings.pulumi_env` (file backend
under ``.state/pulumi``, ``PULUMI_HOME`` under ``.tools``, passphrase secrets). Every
engine event about a resource becomes a :class:`ResourceEvent` passed to ``on_event``
(the CLI draws a live table from them). Each operation returns an
:class:`OperationResult`; failures raise :class:`~infra.errors.StackError` naming the
stack, the operation and the engine's diagnostics.

After a successful ``up`` of a stack that deploys the local target, the driver writes
``.state/<stack>/deployment.json`` from the stack outputs; ``down`` removes it, and the
roles a runbook recorded (``roles.json``, :mod:`infra.roles`) with it.
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pulumi import automation as auto

from infra.errors import StackError, ToolchainError
from infra.outputs import deployment_document, write_deployment
from infra.roles import roles_path
from infra.settings import InfraSettings

__all__ = [
    "Operation",
    "OperationResult",
    "OperationStatus",
    "ResourceEvent",
    "StackDriver",
    "check_toolchain",
]

REQUIRED_TOOLS = ("pulumi", "pulumi-language-python", "pulumi-resource-pulumi-python")


class Operation(enum.StrEnum):
    UP = "up"
    DOWN = "down"
    PREVIEW = "preview"
    REFRESH = "refresh"


class OperationStatus(enum.StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True, kw_only=True)
class ResourceEvent:
    """One step of the engine on one resource.

    ``phase`` is ``started`` (the engine began ``op`` on it), ``done`` or ``failed``;
    ``op`` is Pulumi's step op (``create``, ``update``, ``delete``, ``same``, ``refresh``,
    ``replace``, ...). ``elapsed_s`` counts from the operation's start.
    """

    urn: str
    type: str
    name: str
    op: str
    phase: str
    elapsed_s: float


@dataclass(frozen=True, kw_only=True)
class OperationResult:
    """What an operation did: status, per-op counts, duration, outputs and diagnostics."""

    stack: str
    operation: Operation
    status: OperationStatus
    changes: dict[str, int]
    duration_s: float
    outputs: dict[str, Any] = field(default_factory=dict)
    diagnostics: tuple[str, ...] = ()
    deployment_path: Path | None = None

    @property
    def changed(self) -> bool:
        """True when any resource was created, updated, deleted or replaced."""
        return any(n for op, n in self.changes.items() if op != "same")


def check_toolchain(settings: InfraSettings) -> None:
    """Raise :class:`ToolchainError` unless every engine binary is in ``.tools/bin``."""
    missing = [t for t in REQUIRED_TOOLS if not (settings.bin_dir / t).is_file()]
    if missing:
        raise ToolchainError(
            f"missing in {settings.bin_dir}: {', '.join(missing)} "
            "(build them with: bash scripts/bootstrap.sh tools)"
        )


def _short_name(urn: str) -> str:
    return urn.rsplit("::", 1)[-1]


class _EventCollector:
    """Turns raw engine events into :class:`ResourceEvent` and keeps diagnostics."""

    def __init__(self, callback: Callable[[ResourceEvent], None] | None) -> None:
        self._callback = callback
        self._start = time.monotonic()
        self._lock = threading.Lock()
        self.diagnostics: list[str] = []

    def _emit(self, metadata: auto.StepEventMetadata, phase: str) -> None:
        if metadata.type == "pulumi:pulumi:Stack" or self._callback is None:
            return
        event = ResourceEvent(
            urn=metadata.urn,
            type=metadata.type,
            name=_short_name(metadata.urn),
            op=str(getattr(metadata.op, "value", metadata.op)),
            phase=phase,
            elapsed_s=time.monotonic() - self._start,
        )
        with self._lock:
            self._callback(event)

    def __call__(self, event: auto.EngineEvent) -> None:
        if event.resource_pre_event is not None:
            self._emit(event.resource_pre_event.metadata, "started")
        elif event.res_outputs_event is not None:
            self._emit(event.res_outputs_event.metadata, "done")
        elif event.res_op_failed_event is not None:
            self._emit(event.res_op_failed_event.metadata, "failed")
        elif event.diagnostic_event is not None:
            diag = event.diagnostic_event
            if str(getattr(diag.severity, "value", diag.severity)) in ("error", "warning"):
                text = (diag.message or "").strip()
                if text:
                    with self._lock:
                        self.diagnostics.append(text)


class StackDriver:
    """Runs Pulumi operations on one stack of the chartguard project (or a test project).

    ``project_dir`` defaults to ``settings.project_dir`` (the repo root with
    ``Pulumi.yaml``); ``on_event`` receives a :class:`ResourceEvent` per resource step
    and ``on_output`` the engine's text output, line by line.
    """

    def __init__(
        self,
        *,
        settings: InfraSettings,
        stack: str | None = None,
        project_dir: Path | None = None,
        on_event: Callable[[ResourceEvent], None] | None = None,
        on_output: Callable[[str], None] | None = None,
        write_deployment_file: bool = True,
    ) -> None:
        self.settings = settings
        self.stack_name = stack or settings.stack
        self.project_dir = Path(project_dir or settings.project_dir)
        self.on_event = on_event
        self.on_output = on_output
        self.write_deployment_file = write_deployment_file
        self._stack: auto.Stack | None = None

    # -- workspace -----------------------------------------------------------------

    def _workspace_stack(self) -> auto.Stack:
        if self._stack is not None:
            return self._stack
        check_toolchain(self.settings)
        if not (self.project_dir / "Pulumi.yaml").is_file():
            raise ToolchainError(f"no Pulumi.yaml in {self.project_dir}")
        env = self.settings.pulumi_env(self.stack_name)  # raises PassphraseError first
        self.settings.pulumi_home.mkdir(parents=True, exist_ok=True)
        backend = self.settings.backend
        if backend.startswith("file://"):
            Path(backend.removeprefix("file://")).mkdir(parents=True, exist_ok=True)
        command = auto.PulumiCommand(root=str(self.settings.tools_dir), skip_version_check=True)
        opts = auto.LocalWorkspaceOptions(
            work_dir=str(self.project_dir),
            pulumi_home=str(self.settings.pulumi_home),
            env_vars=env,
            secrets_provider="passphrase",
            pulumi_command=command,
        )
        try:
            self._stack = auto.create_or_select_stack(
                self.stack_name, work_dir=str(self.project_dir), opts=opts
            )
        except auto.CommandError as e:
            raise StackError(
                f"stack {self.stack_name!r}: cannot select or create it: {_last_lines(e)}",
                stack=self.stack_name,
                operation="select",
            ) from e
        return self._stack

    # -- operations ----------------------------------------------------------------

    def up(self) -> OperationResult:
        """Create or update every resource; then write ``deployment.json`` (local target)."""
        result = self._run(Operation.UP)
        if self.write_deployment_file and "topology" in result.outputs:
            path = self.settings.deployment_path(self.stack_name)
            write_deployment(path, deployment_document(result.outputs, stack=self.stack_name))
            result = _with(result, deployment_path=path)
        return result

    def down(self) -> OperationResult:
        """Destroy every resource of the stack; remove its ``deployment.json`` and
        ``roles.json`` (a new stack starts from its config's roles)."""
        result = self._run(Operation.DOWN)
        path = self.settings.deployment_path(self.stack_name)
        if self.write_deployment_file:
            path.unlink(missing_ok=True)
            roles_path(self.settings.stack_dir(self.stack_name)).unlink(missing_ok=True)
        return result

    def preview(self) -> OperationResult:
        """What ``up`` would change, without changing anything."""
        return self._run(Operation.PREVIEW)

    def refresh(self) -> OperationResult:
        """Read every resource's real state (a dead process shows up as a change)."""
        return self._run(Operation.REFRESH)

    def outputs(self) -> dict[str, Any]:
        """The stack's current outputs as plain values (secrets included, unwrapped)."""
        stack = self._workspace_stack()
        return {k: v.value for k, v in stack.outputs().items()}

    def _run(self, operation: Operation) -> OperationResult:
        stack = self._workspace_stack()
        collector = _EventCollector(self.on_event)
        kwargs: dict[str, Any] = {"on_event": collector, "color": "never"}
        if self.on_output is not None:
            kwargs["on_output"] = self.on_output
        start = time.monotonic()
        try:
            if operation is Operation.UP:
                up = stack.up(**kwargs)
                changes = dict(up.summary.resource_changes or {})
                outputs = {k: v.value for k, v in up.outputs.items()}
            elif operation is Operation.DOWN:
                down = stack.destroy(**kwargs)
                changes, outputs = dict(down.summary.resource_changes or {}), {}
            elif operation is Operation.REFRESH:
                refresh = stack.refresh(**kwargs)
                changes, outputs = dict(refresh.summary.resource_changes or {}), {}
            else:
                preview = stack.preview(**kwargs)
                changes, outputs = dict(preview.change_summary or {}), {}
        except auto.CommandError as e:
            detail = "; ".join(collector.diagnostics[-5:]) or _last_lines(e)
            raise StackError(
                f"{operation.value} of stack {self.stack_name!r} failed: {detail}",
                stack=self.stack_name,
                operation=operation.value,
            ) from e
        return OperationResult(
            stack=self.stack_name,
            operation=operation,
            status=OperationStatus.SUCCEEDED,
            changes={str(getattr(k, "value", k)): int(v) for k, v in changes.items()},
            duration_s=time.monotonic() - start,
            outputs=outputs,
            diagnostics=tuple(collector.diagnostics),
        )


def _with(result: OperationResult, **changes: Any) -> OperationResult:
    from dataclasses import replace

    return replace(result, **changes)


def _last_lines(error: Exception, n: int = 6) -> str:
    """The tail of a CLI error (its stderr), where the engine puts the cause."""
    text = getattr(error, "stderr", None) or str(error)
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return " | ".join(lines[-n:])
