from django.apps import AppConfig

from gateway.redaction import register_known_names


def _author_names() -> list[str]:
    """The tenant's authors' names, which the gateway masks in prompts (docs/redaction.md)."""
    from authors.models import Author  # apps.py is imported before models can load

    return list(Author.objects.values_list("name", flat=True))


class AuthorsConfig(AppConfig):
    name = "authors"
    verbose_name = "Authors and style profiles"

    def ready(self) -> None:
        register_known_names(_author_names)
