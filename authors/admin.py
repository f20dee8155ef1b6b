"""Django admin for authors and their style profiles (versions are read-only)."""

from django.contrib import admin

from authors.models import Author, StyleProfile

PROFILE_FIELDS = ("version", "source", "tone", "created_by", "created_at")


class StyleProfileInline(admin.TabularInline):
    """Versions are immutable: listed read-only; a new version is saved from the author's page."""

    model = StyleProfile
    extra = 0
    fields = PROFILE_FIELDS
    readonly_fields = PROFILE_FIELDS
    ordering = ["-version"]
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Author)
class AuthorAdmin(admin.ModelAdmin):
    list_display = ["name", "tenant", "headline", "language", "is_active", "created_at"]
    list_filter = ["tenant", "language", "is_active"]
    search_fields = ["name", "headline", "tenant__name"]
    readonly_fields = ["created_at", "updated_at"]
    inlines = [StyleProfileInline]


@admin.register(StyleProfile)
class StyleProfileAdmin(admin.ModelAdmin):
    """Read-only: changing a saved version would rewrite the history drafts point at."""

    list_display = ["author", "version", "source", "tenant", "created_by", "created_at"]
    list_filter = ["tenant", "source"]
    search_fields = ["author__name", "tone"]
    list_select_related = ["author", "tenant", "created_by"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
