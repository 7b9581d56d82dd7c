"""Data access, apart from the routes. Every function takes the caller's ``practice_id``
and only ever sees that practice's rows: another practice's record is "not found"."""

__all__: list[str] = []
