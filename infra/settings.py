"""The infra driver's settings: where the toolchain, the Pulumi state and stacks live.

Read once from ``CHARTGUARD_*`` environment variables (``InfraSettings()``); the CLI
passes explicit values, and tests build their own instance, so nothing else reads the
environment. :meth:`InfraSettings.pulumi_env` is the whole environment the Pulumi
engine runs with: a file backend under ``.state/pulumi``, ``PULUMI_HOME`` under
``.tools`` (nothing leaks into ``~``), ``.tools/bin`` and the venv first on ``PATH``,
and the secrets passphrase.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from infra.errors import PassphraseError

__all__ = ["InfraSettings", "LOCAL_STACK", "LOCAL_DEFAULT_PASSPHRASE", "REPO_ROOT"]

REPO_ROOT = Path(__file__).resolve().parents[1]
LOCAL_STACK = "local"
#: Documented default passphrase, accepted only for the ``local`` stack: its secrets
#: are loopback DSNs of synthetic data. Every other stack must set its own.
LOCAL_DEFAULT_PASSPHRASE = "chartguard-local-stack"


class InfraSettings(BaseSettings):
    """Settings of ``chartguard up|down|preview|refresh|status`` (env prefix ``CHARTGUARD_``)."""

    model_config = SettingsConfigDict(env_prefix="CHARTGUARD_", extra="ignore")

    project_dir: Path = Field(default=REPO_ROOT, description="folder holding Pulumi.yaml")
    state_dir: Path = Field(default=REPO_ROOT / ".state", description="every stack's state")
    tools_dir: Path = Field(default=REPO_ROOT / ".tools", description="Go-built tools")
    venv_dir: Path = Field(default=REPO_ROOT / ".venv", description="the Python environment")
    stack: str = LOCAL_STACK
    pulumi_passphrase: SecretStr | None = Field(
        default=None, description="secrets passphrase (CHARTGUARD_PULUMI_PASSPHRASE)"
    )
    backend_url: str | None = Field(
        default=None, description="Pulumi backend; default file://<state_dir>/pulumi"
    )

    @property
    def bin_dir(self) -> Path:
        return self.tools_dir / "bin"

    @property
    def pulumi_bin(self) -> Path:
        return self.bin_dir / "pulumi"

    @property
    def pulumi_home(self) -> Path:
        return self.tools_dir / "pulumi-home"

    @property
    def backend(self) -> str:
        return self.backend_url or f"file://{self.state_dir / 'pulumi'}"

    def stack_dir(self, stack: str) -> Path:
        """``<state_dir>/<stack>``: what a stack's local resources and deployment file use."""
        return self.state_dir / stack

    def deployment_path(self, stack: str) -> Path:
        """``<state_dir>/<stack>/deployment.json`` (the contract in docs/interfaces.md)."""
        return self.stack_dir(stack) / "deployment.json"

    def passphrase(self, stack: str) -> str:
        """The secrets passphrase for ``stack``.

        The local stack falls back to :data:`LOCAL_DEFAULT_PASSPHRASE`; any other stack
        must set ``CHARTGUARD_PULUMI_PASSPHRASE`` to something else, or
        :class:`PassphraseError` is raised before anything runs.
        """
        value = self.pulumi_passphrase.get_secret_value() if self.pulumi_passphrase else ""
        if stack == LOCAL_STACK:
            return value or LOCAL_DEFAULT_PASSPHRASE
        if not value:
            raise PassphraseError(
                f"stack {stack!r}: set CHARTGUARD_PULUMI_PASSPHRASE (the default passphrase "
                f"is only for the {LOCAL_STACK!r} stack)"
            )
        if value == LOCAL_DEFAULT_PASSPHRASE:
            raise PassphraseError(
                f"stack {stack!r}: CHARTGUARD_PULUMI_PASSPHRASE is the documented local "
                "default; choose a private passphrase for any stack but 'local'"
            )
        return value

    def pulumi_env(self, stack: str, *, base: dict[str, str] | None = None) -> dict[str, str]:
        """The environment the Pulumi CLI, language host and plugins run with.

        ``base`` defaults to this process's environment; variables that would make the
        engine reach the network (update checks, plugin downloads) are switched off.
        """
        env = dict(os.environ if base is None else base)
        path = [str(self.bin_dir), str(self.venv_dir / "bin")]
        env.update(
            {
                "PATH": os.pathsep.join([*path, env.get("PATH", "/usr/bin:/bin")]),
                "PULUMI_HOME": str(self.pulumi_home),
                "PULUMI_BACKEND_URL": self.backend,
                "PULUMI_CONFIG_PASSPHRASE": self.passphrase(stack),
                "PULUMI_SKIP_UPDATE_CHECK": "true",
                "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
                "PULUMI_PYTHON_CMD": str(self.venv_dir / "bin" / "python"),
                "PULUMI_DIY_BACKEND_NO_LEGACY_WARNING": "true",
                "CHARTGUARD_STATE_DIR": str(self.state_dir),
            }
        )
        env.pop("PULUMI_CONFIG_PASSPHRASE_FILE", None)
        env.pop("PULUMI_ACCESS_TOKEN", None)
        return env
