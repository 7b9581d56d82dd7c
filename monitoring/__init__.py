"""chartguard monitoring package."""

__all__: list[str] = []
