"""pytest fixtures for the emulated services (filled in by the sandbox modules)."""

from __future__ import annotations

from tests.fixtures_aws import *  # noqa: F401,F403
from tests.fixtures_llm import *  # noqa: F401,F403
