"""Fixtures for matching tests."""

from tests.conftest import shared_vulndb as shared_db

__all__ = ["shared_db"]
