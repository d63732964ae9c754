"""Endpoints."""
from __future__ import annotations

from core.store.db import Database


class EndpointsMixin:
    db: Database
