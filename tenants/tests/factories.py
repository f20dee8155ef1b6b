import factory

from tenants.context import tenant_scope
from tenants.models import Membership, Tenant, User
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
