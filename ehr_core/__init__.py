"""The compact EHR service guarded by chartguard."""

__all__: list[str] = []
