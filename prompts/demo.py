"""Demo data: Maestro's default prompts (shared by every tenant); nothing per tenant."""

from __future__ import annotations

from prompts.services import prompt_defaults_install
from tenants.models import Tenant


def seed_shared() -> None:
    prompt_defaults_install()


def seed(*, tenant: Tenant) -> None:
    """Tenants start on Maestro's defaults; overrides appear when an editor saves a version."""
