"""Browser pages for memories: browse, search (htmx, live), add, edit, expire, delete, and decide
contradictions (supersede the older memory or keep both). Thin."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from authors.models import Author
from common.forms import add_validation_errors
from gateway.embeddings import EmbeddingError, get_embedder
from memories import selectors, services
from memories.forms import MemoryFilterForm, MemoryForm, OtherMemoryForm
from memories.models import Memory, MemoryConflict
from tenants.access import tenant_view
from tenants.http import TenantRequest
from tenants.roles import Permission

PAGE_SIZE = 50
SEARCH_LIMIT = 20


def _search(
    *, query: str, author: Author | None, kind: str | None, history: bool = False
) -> list[selectors.ScoredMemory]:
    kinds = [kind] if kind else None
    if author is not None:
        return selectors.retrieve_memories(
            author=author, query=query, limit=SEARCH_LIMIT, kinds=kinds, history=history
        )
    # Retrieval is per author by design; the browser searches each author's memories and merges.
    embedding = get_embedder().embed([query])[0]
    results = [
        found
        for each in Author.objects.all()
        for found in selectors.retrieve_memories(
            author=each,
            query=query,
            limit=SEARCH_LIMIT,
            kinds=kinds,
            query_embedding=embedding,
            history=history,
        )
    ]
    return sorted(results, key=lambda item: -item.score)[:SEARCH_LIMIT]


@tenant_view()
@require_http_methods(["GET"])
def memory_list(request: TenantRequest, tenant_slug: str) -> HttpResponse:
    form = MemoryFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    query = (filters.get("q") or "").strip()
    history = bool(filters.get("history"))
    context = {
        "form": form,
        "query": query,
        "history": history,
        "results": None,
        "page": None,
        "conflicts": selectors.pending_conflicts(author=filters.get("author")),
    }
    if query:
        try:
            context["results"] = _search(
                query=query, author=filters.get("author"), kind=filters.get("kind"), history=history
            )
        except EmbeddingError as exc:
            context["search_error"] = f"Search is unavailable right now: {exc}"
    else:
        memories = selectors.memories_list(
            author=filters.get("author"),
            kind=filters.get("kind") or None,
            status="all" if history else filters.get("status") or "valid",
        )
        context["page"] = Paginator(memories, PAGE_SIZE).get_page(request.GET.get("page"))
    template = "memories/list.html#results" if request.htmx else "memories/list.html"
    return render(request, template, context)


@tenant_view(write=Permission.EDIT_CONTENT)
@require_http_methods(["GET", "POST"])
def memory_add(request: TenantRequest, tenant_slug: str) -> HttpResponse:
    initial = {"author": request.GET.get("author"), "kind": request.GET.get("kind")}
    form = MemoryForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            result = services.memory_add(
                author=data["author"],
                kind=data["kind"],
                text=data["text"],
                importance=data["importance"],
                valid_from=data["valid_from"],
                valid_until=data["valid_until"],
                created_by=request.user,
            )
        except ValidationError as exc:
            add_validation_errors(form, exc)
        except EmbeddingError as exc:
            form.add_error(None, f"The memory could not be embedded ({exc}); nothing was saved, try again.")
        else:
            return _after_add(request, tenant_slug, result)
    return render(request, "memories/form.html", {"form": form, "memory": None})


def _after_add(request: TenantRequest, tenant_slug: str, result: services.MemoryWriteResult) -> HttpResponse:
    memory = result.memory
    if result.contradicts:
        count = len(result.contradicts)
        messages.warning(
            request,
            f"Memory added for {memory.author}, but it contradicts {count} valid "
            f"memor{'y' if count == 1 else 'ies'} of theirs: decide under “Contradictions to decide” "
            "whether it supersedes them or both hold.",
        )
        return redirect("memories:list", tenant_slug=tenant_slug)
    if result.merged:
        messages.warning(
            request,
            f"Merged with an existing memory of {memory.author}: “{memory.text[:120]}” "
            f"(importance {memory.importance}, merged {memory.merge_count} times).",
        )
        url = reverse("memories:add", kwargs={"tenant_slug": tenant_slug})
        return redirect(f"{url}?author={memory.author_id}&kind={memory.kind}")
    messages.success(request, f"Memory added for {memory.author}.")
    return redirect("memories:list", tenant_slug=tenant_slug)


@tenant_view(write=Permission.EDIT_CONTENT)
@require_http_methods(["GET", "POST"])
def memory_edit(request: TenantRequest, tenant_slug: str, memory_id: int) -> HttpResponse:
    memory = selectors.access_memory(memory_id=memory_id)
    initial = {
        "kind": memory.kind,
        "text": memory.text,
        "importance": memory.importance,
        "valid_from": memory.valid_from,
        "valid_until": memory.valid_until,
    }
    form = MemoryForm(request.POST or None, initial=initial, editing=True)
    extra = {"conflicts": selectors.pending_conflicts(memory=memory), "supersedes": memory.supersedes.all()}
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.memory_update(
                memory=memory,
                text=data["text"],
                kind=data["kind"],
                importance=data["importance"],
                valid_from=data["valid_from"],
                valid_until=data["valid_until"],
            )
        except ValidationError as exc:
            add_validation_errors(form, exc)
        except EmbeddingError as exc:
            form.add_error(None, f"The new text could not be embedded ({exc}); nothing was saved, try again.")
        else:
            if selectors.pending_conflicts(memory=memory).exists():
                messages.warning(
                    request,
                    "Memory saved. It contradicts another valid memory of this author: decide under "
                    "“Contradictions to decide”.",
                )
            else:
                messages.success(request, "Memory saved.")
            return redirect("memories:list", tenant_slug=tenant_slug)
    return render(request, "memories/form.html", {"form": form, "memory": memory, **extra})


@tenant_view(write=Permission.EDIT_CONTENT)
@require_POST
def memory_expire(request: TenantRequest, tenant_slug: str, memory_id: int) -> HttpResponse:
    memory = selectors.access_memory(memory_id=memory_id)
    services.memory_expire(memory=memory)
    messages.success(request, "The memory is no longer valid; it stays on record under Expired.")
    return redirect("memories:list", tenant_slug=tenant_slug)


@tenant_view(write=Permission.EDIT_CONTENT)
@require_POST
def memory_delete(request: TenantRequest, tenant_slug: str, memory_id: int) -> HttpResponse:
    memory = selectors.access_memory(memory_id=memory_id)
    services.memory_delete(memory=memory)
    messages.success(request, "Memory deleted.")
    return redirect("memories:list", tenant_slug=tenant_slug)


@tenant_view(write=Permission.EDIT_CONTENT)
@require_POST
def memory_supersede(request: TenantRequest, tenant_slug: str, memory_id: int) -> HttpResponse:
    """The memory is replaced by the one posted as `other` (its successor)."""
    memory = selectors.access_memory(memory_id=memory_id)
    successor = _other_memory(request)
    if successor is None:
        return HttpResponseBadRequest("Say which memory replaces this one.")
    conflict = selectors.conflict_between(memory=memory, other=successor, pending=False)
    try:
        services.memory_supersede(memory=memory, successor=successor, actor=request.user)
    except (ValidationError, services.MemoryStateError) as exc:
        return _resolution_failed(request, tenant_slug, conflict, exc)
    done = f"Superseded: “{memory.text[:80]}” is no longer valid; “{successor.text[:80]}” replaces it."
    return _resolved(request, tenant_slug, conflict, done)


@tenant_view(write=Permission.EDIT_CONTENT)
@require_POST
def memory_keep_both(request: TenantRequest, tenant_slug: str, memory_id: int) -> HttpResponse:
    """The memory and the one posted as `other`, flagged as contradicting, both hold."""
    memory = selectors.access_memory(memory_id=memory_id)
    other = _other_memory(request)
    if other is None:
        return HttpResponseBadRequest("Say which memory to keep beside this one.")
    conflict = selectors.conflict_between(memory=memory, other=other, pending=False)
    try:
        services.memory_keep_both(memory=memory, other=other, actor=request.user)
    except services.MemoryStateError as exc:
        return _resolution_failed(request, tenant_slug, conflict, exc)
    return _resolved(request, tenant_slug, conflict, "Both memories are kept: they are two facts.")


def _other_memory(request: TenantRequest) -> Memory | None:
    form = OtherMemoryForm(request.POST)
    if not form.is_valid():
        return None
    return selectors.access_memory(memory_id=form.cleaned_data["other"])


def _resolved(
    request: TenantRequest, tenant_slug: str, conflict: MemoryConflict | None, done: str
) -> HttpResponse:
    if request.htmx and conflict is not None:
        conflict.refresh_from_db()
        return render(request, "memories/list.html#conflict", {"conflict": conflict, "outcome": done})
    messages.success(request, done)
    return redirect("memories:list", tenant_slug=tenant_slug)


def _resolution_failed(
    request: TenantRequest, tenant_slug: str, conflict: MemoryConflict | None, exc: Exception
) -> HttpResponse:
    problem = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
    if request.htmx and conflict is not None:
        # 200: htmx swaps no error responses, and the editor must read why nothing changed.
        context = {"conflict": conflict, "problem": problem}
        return render(request, "memories/list.html#conflict", context)
    messages.error(request, problem)
    return redirect("memories:list", tenant_slug=tenant_slug)
