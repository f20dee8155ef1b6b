from django.db import migrations
from pgvector.django import VectorExtension


class Migration(migrations.Migration):
    """pgvector, for memories and the semantic cache. Apps that store vectors depend on this."""

    dependencies = [("tenants", "0001_initial")]

    operations = [VectorExtension()]
