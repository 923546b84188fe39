"""Fixtures shared by the security tests: the browser from the journeys."""

from tests.e2e.conftest import browser  # noqa: F401
