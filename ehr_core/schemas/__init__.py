"""Request and response models, one module per resource (Base/Create/Update/Public)."""

from ehr_core.schemas.common import Page

__all__ = ["Page"]
