"""Settings package: `base` holds everything, `production` and `test` adjust it.

DJANGO_SETTINGS_MODULE defaults to `config.settings.base` (local development).
"""
