"""/v1/: the OpenAI-compatible endpoint (mounted by config/urls.py)."""

from django.urls import path

from api.views import openai

app_name = "openai"

urlpatterns = [
    path("chat/completions", openai.chat_completions, name="chat_completions"),
    path("models", openai.ModelList.as_view(), name="models"),
]
