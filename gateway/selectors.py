"""Reads of the gateway's records that the router and other apps need."""

from __future__ import annotations

from gateway.models import (
    RoutePreference,
)


def route_chains() -> dict[str, list[str]]:
    """For the router (via the gateway catalog): purpose -> ordered aliases to try first."""
    return {pref.purpose: list(pref.chain) for pref in RoutePreference.objects.all()}
