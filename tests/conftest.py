"""Suite-wide test configuration; each package's fixtures live in tests/<package>/conftest.py."""
