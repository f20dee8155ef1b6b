"""The fake LinkedIn for the erasure tests: erasure revokes the authors' LinkedIn tokens there."""

from publishing.tests.conftest import fake_linkedin, fake_linkedin_server  # noqa: F401  (fixtures)
