"""How drf-spectacular describes the API's two ways in (loaded by ApiConfig.ready)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "mae_<prefix>_<secret>"}


class SessionTenantScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.SessionTenantAuthentication"
    name = "Session"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "cookie",
            "name": "sessionid",
            "description": "A browser session; say the tenant with the X-Tenant header or ?tenant=<slug>.",
        }
