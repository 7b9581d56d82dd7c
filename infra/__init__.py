"""chartguard infra package."""

__all__: list[str] = []
