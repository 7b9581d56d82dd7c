"""Runbooks: the ``chartguard`` CLI and the playbooks that compose every other package."""

__all__: list[str] = []
