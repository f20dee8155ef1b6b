from django.urls import path

from publishing import views

# Mounted at publishing/ by config/urls.py, outside any tenant: LinkedIn sends every member back to one
# registered redirect URL, and the signed `state` names the tenant and the author.
urlpatterns = [
    path("linkedin/callback/", views.linkedin_callback, name="publishing_linkedin_callback"),
]
