from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from tenants.models import Author, Membership, StyleProfile, Tenant, User


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "is_active", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ["email"]
    list_display = ["email", "full_name", "is_staff", "is_active", "last_login"]
    search_fields = ["email", "full_name"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        ("Profile", {"fields": ["full_name"]}),
        ("Permissions", {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "password1", "password2"]})]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "tenant", "role", "created_at"]
    list_filter = ["role", "tenant"]
    search_fields = ["user__email", "tenant__name"]
    autocomplete_fields = ["user"]


class StyleProfileInline(admin.TabularInline):
    """Versions are immutable: listed read-only; a new version is saved from the author's page."""

    model = StyleProfile
    extra = 0
    fields = ["version", "source", "tone", "created_by", "created_at"]
    readonly_fields = fields
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
