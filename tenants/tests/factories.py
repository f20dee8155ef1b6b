import secrets
from datetime import timedelta

import factory
from django.utils import timezone

from tenants.context import tenant_scope
from tenants.models import Invitation, Membership, Tenant, User, invitation_token_hash
from tenants.roles import Role

PASSWORD = "correct-horse-battery"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.test")
    full_name = factory.Faker("name")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def save_password(self, create, extracted, **kwargs):
        if create:
            self.save()


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Tenant {n}")
    slug = factory.Sequence(lambda n: f"tenant-{n}")


def make_member(*, tenant: Tenant, role: str = Role.WRITER, user: User | None = None) -> Membership:
    user = user or UserFactory()
    with tenant_scope(tenant):
        return Membership.objects.create(user=user, role=role)


def make_invitation(
    *, tenant: Tenant, email: str | None = None, role: str = Role.WRITER, invited_by: User | None = None
) -> tuple[Invitation, str]:
    """An open invitation and the token of its link (what the e-mail carries)."""
    token = secrets.token_urlsafe(16)
    with tenant_scope(tenant):
        invitation = Invitation.objects.create(
            email=email or f"invitee{Invitation.objects.count()}@example.test",
            role=role,
            invited_by=invited_by,
            token_hash=invitation_token_hash(token),
            expires_at=timezone.now() + timedelta(days=7),
        )
    return invitation, token
