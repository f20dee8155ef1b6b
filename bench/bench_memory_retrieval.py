"""Latency and recall of memory retrieval's vector leg at scale, in a throwaway database.

    python bench/bench_memory_retrieval.py [--n 100000 --tenants 10 --authors 5 --queries 300]

Creates its own database (`bench_memories`) on the embedded development PostgreSQL, bulk-loads
random unit vectors (384 dimensions) for n memories spread over tenants and authors (10% expired)
with COPY, builds the same indexes as memories.Memory, then runs the exact statement of
`retrieve_memories`' vector leg (memories.sql.VECTOR_SQL, top 10, tenant+author filtered) and
compares its answers with an exact search done in numpy. It drops the database at the end (unless
--keep); it never touches the development or test databases' tables.

Plans measured:
- planner: the schema as shipped, so PostgreSQL may pick the (tenant, author, kind) btree and sort
  one author's rows exactly, or the HNSW index, as it costs them;
- hnsw only: the btree dropped and sequential scans disabled, so the HNSW index must serve the
  filtered query: once without
  iterative scans (the filter starves the results), once with them (what retrieve_memories sets).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import psycopg
from pgvector.psycopg import register_vector

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from config.embedded import ensure_postgres
from memories.sql import VECTOR_SQL, vector_settings

DIMENSIONS = 384
MODEL = "bench/random"
TOP_K = 10
DATABASE = "bench_memories"

SCHEMA = f"""
CREATE EXTENSION IF NOT EXISTS vector;
DROP TABLE IF EXISTS memories_memory;
CREATE TABLE memories_memory (
    id bigint PRIMARY KEY,
    tenant_id bigint NOT NULL,
    author_id bigint NOT NULL,
    kind varchar(16) NOT NULL,
    valid_from timestamptz NOT NULL,
    valid_until timestamptz NULL,
    embedding vector({DIMENSIONS}) NOT NULL,
    embedding_model varchar(100) NOT NULL
);
"""
BTREE = "CREATE INDEX memory_tenant_author_kind ON memories_memory (tenant_id, author_id, kind)"
HNSW = (
    "CREATE INDEX memory_embedding_hnsw ON memories_memory "
    "USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64)"
)
KINDS = ["case", "key_phrase", "learning", "fact", "feedback"]


def unit_vectors(rng: np.random.Generator, count: int) -> np.ndarray:
    vectors = rng.standard_normal((count, DIMENSIONS), dtype=np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def load(conn: psycopg.Connection, args, rng) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    authors_total = args.tenants * args.authors
    author_of = rng.integers(0, authors_total, size=args.n)
    expired = rng.random(args.n) < 0.10
    vectors = unit_vectors(rng, args.n)
    now = datetime.now(UTC)
    started = time.perf_counter()
    conn.execute(SCHEMA)
    conn.commit()
    register_vector(conn)  # before the cursor is made: cursors copy the connection's adapters
    with conn.cursor() as cursor:
        copy_sql = (
            "COPY memories_memory (id, tenant_id, author_id, kind, valid_from, valid_until, embedding, "
            "embedding_model) FROM STDIN WITH (FORMAT BINARY)"
        )
        with cursor.copy(copy_sql) as copy:
            copy.set_types(
                ["int8", "int8", "int8", "varchar", "timestamptz", "timestamptz", "vector", "varchar"]
            )
            for index in range(args.n):
                author = int(author_of[index])
                copy.write_row(
                    (
                        index + 1,
                        author // args.authors + 1,
                        author + 1,
                        KINDS[index % len(KINDS)],
                        now - timedelta(days=400),
                        now - timedelta(days=1) if expired[index] else None,
                        vectors[index],
                        MODEL,
                    )
                )
    conn.commit()
    print(
        f"loaded {args.n:,} memories ({args.tenants} tenants x {args.authors} authors) "
        f"in {time.perf_counter() - started:.1f} s"
    )
    return author_of, expired, vectors


def build_indexes(conn: psycopg.Connection) -> None:
    with conn.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '1GB'")
        cursor.execute(BTREE)
        started = time.perf_counter()
        cursor.execute(HNSW)
        print(f"HNSW index built in {time.perf_counter() - started:.1f} s")
        cursor.execute("ANALYZE memories_memory")
    conn.commit()


def exact_top_k(query: np.ndarray, author: int, author_of, expired, vectors) -> set[int]:
    rows = np.flatnonzero((author_of == author) & ~expired)
    distances = 1.0 - vectors[rows] @ query
    best = rows[np.argsort(distances, kind="stable")[:TOP_K]]
    return {int(row) + 1 for row in best}


def configure(cursor, args, *, iterative: bool, force_hnsw: bool) -> None:
    if iterative:
        for statement in vector_settings(TOP_K):
            cursor.execute(statement)
    else:
        cursor.execute("SET LOCAL hnsw.iterative_scan = off")
        cursor.execute(f"SET LOCAL hnsw.ef_search = {args.ef_search}")
    if force_hnsw:
        cursor.execute("SET LOCAL enable_seqscan = off")


def run(conn, queries, truth, args, *, iterative: bool, force_hnsw: bool) -> dict:
    latencies, recalls = [], []
    for (tenant, author, vector), expected in zip(queries, truth, strict=True):
        params = {
            "tenant_id": tenant,
            "author_id": author,
            "now": datetime.now(UTC),
            "kinds": None,
            "embedding": vector,
            "embedding_model": MODEL,
            "limit": TOP_K,
        }
        started = time.perf_counter()
        with conn.transaction(), conn.cursor() as cursor:
            configure(cursor, args, iterative=iterative, force_hnsw=force_hnsw)
            cursor.execute(VECTOR_SQL, params)
            found = {row[0] for row in cursor.fetchall()}
        latencies.append((time.perf_counter() - started) * 1000)
        recalls.append(len(found & expected) / len(expected))
    cuts = statistics.quantiles(latencies, n=100)
    return {"p50": cuts[49], "p99": cuts[98], "recall": statistics.fmean(recalls), "min_recall": min(recalls)}


def plan_of(conn, query, *, iterative: bool, force_hnsw: bool, args) -> str:
    tenant, author, vector = query
    with conn.transaction(), conn.cursor() as cursor:
        configure(cursor, args, iterative=iterative, force_hnsw=force_hnsw)
        cursor.execute(
            "EXPLAIN " + VECTOR_SQL,
            {
                "tenant_id": tenant,
                "author_id": author,
                "now": datetime.now(UTC),
                "kinds": None,
                "embedding": vector,
                "embedding_model": MODEL,
                "limit": TOP_K,
            },
        )
        lines = [row[0] for row in cursor.fetchall()]
    for name in ("memory_embedding_hnsw", "memory_tenant_author_kind", "Seq Scan"):
        if any(name in line for line in lines):
            return {"memory_embedding_hnsw": "hnsw", "memory_tenant_author_kind": "btree+sort"}.get(
                name, "seq"
            )
    return "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--tenants", type=int, default=10)
    parser.add_argument("--authors", type=int, default=5, help="authors per tenant")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--ef-search", type=int, default=100, help="ef_search without iterative scans")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the bench database afterwards")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)

    url = ensure_postgres(name="pg", database=DATABASE)
    admin_url = url.replace(f"/{DATABASE}?", "/postgres?", 1)
    try:
        with psycopg.connect(url) as conn:
            author_of, expired, vectors = load(conn, args, rng)
            build_indexes(conn)
            queries, truth = [], []
            for _ in range(args.queries):
                author = int(rng.integers(0, args.tenants * args.authors))
                query = unit_vectors(rng, 1)[0]
                queries.append((author // args.authors + 1, author + 1, query))
                truth.append(exact_top_k(query, author, author_of, expired, vectors))
            rows = []
            conditions = [
                ("planner, no iterative scan", False, False),
                ("planner, iterative scan", True, False),
            ]
            for label, iterative, force in conditions:
                rows.append(
                    (
                        label,
                        plan_of(conn, queries[0], iterative=iterative, force_hnsw=force, args=args),
                        run(conn, queries, truth, args, iterative=iterative, force_hnsw=force),
                    )
                )
            with conn.cursor() as cursor:
                cursor.execute("DROP INDEX memory_tenant_author_kind")
            conn.commit()
            conditions = [
                ("hnsw only, no iterative scan", False, True),
                ("hnsw only, iterative scan", True, True),
            ]
            for label, iterative, force in conditions:
                rows.append(
                    (
                        label,
                        plan_of(conn, queries[0], iterative=iterative, force_hnsw=force, args=args),
                        run(conn, queries, truth, args, iterative=iterative, force_hnsw=force),
                    )
                )
        print(
            f"\n{args.queries} queries, top {TOP_K}, one tenant + one author "
            f"(~{args.n // (args.tenants * args.authors):,} memories each)"
        )
        print(f"{'condition':<32}{'plan':<12}{'p50 ms':>8}{'p99 ms':>8}{'recall@10':>11}{'min':>6}")
        for label, plan, result in rows:
            print(
                f"{label:<32}{plan:<12}{result['p50']:>8.2f}{result['p99']:>8.2f}"
                f"{result['recall']:>11.3f}{result['min_recall']:>6.1f}"
            )
    finally:
        if not args.keep:
            with psycopg.connect(admin_url, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')


if __name__ == "__main__":
    main()
