"""The SQL of memory retrieval, free of Django imports so bench/bench_memory_retrieval.py runs it as is.

Both statements filter by tenant and author explicitly (raw SQL never passes through the scoped
manager) and keep only memories valid at `now` (with `history=True`: every memory valid at some point
up to `now`, expired and superseded ones included). Parameters are named (psycopg `%(name)s`).
"""

# The filters every memory query shares. Parameters: tenant_id, author_id, now, kinds (text[] or NULL).
_VALID_FOR_AUTHOR = """
    m.tenant_id = %(tenant_id)s AND m.author_id = %(author_id)s
    AND m.valid_from <= %(now)s AND (m.valid_until IS NULL OR m.valid_until > %(now)s)
    AND (%(kinds)s::text[] IS NULL OR m.kind = ANY(%(kinds)s::text[]))
"""
# With history: also what stopped being valid (expired or superseded); never what is not valid yet.
_EVER_VALID_FOR_AUTHOR = """
    m.tenant_id = %(tenant_id)s AND m.author_id = %(author_id)s AND m.valid_from <= %(now)s
    AND (%(kinds)s::text[] IS NULL OR m.kind = ANY(%(kinds)s::text[]))
"""


def vector_sql(*, history: bool = False) -> str:
    """The vector leg. Iterative scans (pgvector 0.8) keep walking the HNSW graph until LIMIT rows pass
    the filter; relaxed order is re-sorted by the outer query, as pgvector's documentation advises."""
    where = _EVER_VALID_FOR_AUTHOR if history else _VALID_FOR_AUTHOR
    return f"""
WITH candidates AS MATERIALIZED (
    SELECT m.id, m.embedding <=> %(embedding)s::vector AS distance
    FROM memories_memory m
    WHERE {where} AND m.embedding_model = %(embedding_model)s
    ORDER BY m.embedding <=> %(embedding)s::vector
    LIMIT %(limit)s
)
SELECT id, distance FROM candidates ORDER BY distance
"""  # noqa: S608 - only constant SQL fragments are interpolated; values are parameters


def text_sql(*, history: bool = False) -> str:
    where = _EVER_VALID_FOR_AUTHOR if history else _VALID_FOR_AUTHOR
    return f"""
WITH q AS (
    SELECT websearch_to_tsquery(%(config)s::regconfig, %(websearch)s) AS query,
           tsvector_to_array(to_tsvector(%(config)s::regconfig, %(query_text)s)) AS lexemes
)
SELECT m.id,
       ts_rank_cd(m.search_vector, q.query) AS text_rank,
       (SELECT count(*) FROM unnest(q.lexemes) AS lexeme
         WHERE lexeme = ANY(tsvector_to_array(m.search_vector)))::float
         / greatest(cardinality(q.lexemes), 1) AS coverage
FROM memories_memory m, q
WHERE {where} AND m.search_vector @@ q.query
ORDER BY text_rank DESC, m.id
LIMIT %(limit)s
"""  # noqa: S608 - only constant SQL fragments are interpolated; values are parameters


# What retrieval runs by default; bench/bench_memory_retrieval.py measures exactly VECTOR_SQL.
VECTOR_SQL = vector_sql()
TEXT_SQL = text_sql()


EF_SEARCH = 100


def vector_settings(limit: int) -> list[str]:
    """Run before VECTOR_SQL in the same transaction (SET LOCAL ends with it)."""
    return [
        "SET LOCAL hnsw.iterative_scan = relaxed_order",
        f"SET LOCAL hnsw.ef_search = {max(EF_SEARCH, int(limit))}",
    ]
