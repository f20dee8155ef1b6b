"""Setting budgets without a form (the REST API): every rule the console's budget form checks, then
`gateway.services.budget_save`, which records the change and drops the cached catalog.

    budget_create(tenant=..., scope="tenant", period="month", limit=Decimal("50"))
    budget_update(tenant=..., budget=..., limit=Decimal("80"), alert_thresholds=[0.5, 0.9])

Thresholds are fractions of the limit (0.8 is 80 %), as the model stores them and `budget.alert`
webhooks report them. Called inside the tenant's scope.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q

from gateway.models import Budget, BudgetPeriod, BudgetScope
from gateway.services import budget_save
from tenants.models import Membership, Tenant

CHANGEABLE = ("scope", "period", "limit", "user", "author", "alert_thresholds", "is_active")


def _clean_thresholds(thresholds: Any) -> list[float]:
    if not isinstance(thresholds, list) or any(
        isinstance(t, bool) or not isinstance(t, int | float) or not 0 < t <= 1 for t in thresholds
    ):
        raise ValidationError({"alert_thresholds": "Each threshold is a fraction above 0 and at most 1."})
    return sorted({round(float(t), 4) for t in thresholds})


def _clean_subject(scope: str, user_id: int | None, author_id: int | None) -> tuple[int | None, int | None]:
    """The user (a member of the tenant) or the author (one of its own) the scope names; none else."""
    if scope == BudgetScope.USER:
        if user_id is None or not Membership.objects.filter(user_id=user_id).exists():
            raise ValidationError({"user": "Give the id of a member of this tenant (user scope)."})
        return user_id, None
    if scope == BudgetScope.AUTHOR:
        # The author model belongs to a higher app; its default manager is scoped to the tenant.
        authors = Budget._meta.get_field("author").related_model._default_manager  # type: ignore[union-attr]  # a ForeignKey: a model class
        if author_id is None or not authors.filter(pk=author_id).exists():
            raise ValidationError({"author": "Give the id of one of this tenant's authors (author scope)."})
        return None, author_id
    return None, None


def _save(*, tenant: Tenant, budget: Budget, values: dict) -> Budget:
    if values["scope"] not in BudgetScope.values:
        raise ValidationError({"scope": f"{values['scope']!r} is not a budget scope."})
    if values["period"] not in BudgetPeriod.values:
        raise ValidationError({"period": f"{values['period']!r} is not a budget period."})
    subject = (values["scope"], values.get("user"), values.get("author"))
    if budget.pk is None or subject != (budget.scope, budget.user_id, budget.author_id):
        # A new subject must be the tenant's own; a budget kept for someone who left stays editable.
        user_id, author_id = _clean_subject(*subject)
    else:
        user_id, author_id = budget.user_id, budget.author_id
    # One per subject and period (the constraint counts NULL as a value: one tenant budget per period).
    subject_filter = Q(user__isnull=True) if user_id is None else Q(user_id=user_id)
    subject_filter &= Q(author__isnull=True) if author_id is None else Q(author_id=author_id)
    clash = Budget.objects.filter(subject_filter, scope=values["scope"], period=values["period"])
    clash = clash.exclude(pk=budget.pk)
    if clash.exists():
        raise ValidationError("A budget for this subject and period exists already: change that one.")
    thresholds = _clean_thresholds(values["alert_thresholds"])
    budget.scope, budget.period = values["scope"], values["period"]
    budget.limit, budget.is_active = Decimal(values["limit"]), bool(values["is_active"])
    try:
        with transaction.atomic():
            return budget_save(
                tenant=tenant, budget=budget, user_id=user_id, author_id=author_id, thresholds=thresholds
            )
    except IntegrityError as exc:  # another admin saved the same subject and period a moment ago
        raise ValidationError("A budget for this subject and period exists already.") from exc


def budget_create(
    *,
    tenant: Tenant,
    scope: str,
    period: str,
    limit: Decimal,
    user: int | None = None,
    author: int | None = None,
    alert_thresholds: list[float] | None = None,
    is_active: bool = True,
) -> Budget:
    """A new hard limit for the tenant, one of its members (`user`) or one of its authors (`author`)."""
    values = {
        "scope": scope, "period": period, "limit": limit, "user": user, "author": author,
        "alert_thresholds": [0.8, 1.0] if alert_thresholds is None else alert_thresholds,
        "is_active": is_active,
    }  # fmt: skip
    return _save(tenant=tenant, budget=Budget(), values=values)


def budget_update(*, tenant: Tenant, budget: Budget, **changes) -> Budget:
    """Change some of a budget's fields (those of `CHANGEABLE`); the others keep their values."""
    unknown = set(changes) - set(CHANGEABLE)
    if unknown:
        raise ValidationError(f"A budget has no field {', '.join(sorted(unknown))}.")
    values = {
        "scope": budget.scope, "period": budget.period, "limit": budget.limit, "user": budget.user_id,
        "author": budget.author_id, "alert_thresholds": budget.alert_thresholds,
        "is_active": budget.is_active,
    }  # fmt: skip
    if "scope" in changes and changes["scope"] != budget.scope:
        values["user"] = values["author"] = None  # a new scope names its own subject
    return _save(tenant=tenant, budget=budget, values={**values, **changes})
