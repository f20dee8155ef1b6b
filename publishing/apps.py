from django.apps import AppConfig


class PublishingConfig(AppConfig):
    name = "publishing"
    verbose_name = "Publishing"

    def ready(self) -> None:
        from publishing import panels  # apps.py is imported before models can load

        panels.register()  # the author's post results on the author's page
