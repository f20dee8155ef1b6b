"""The learned router: which requests a cheaper tier can serve, learned from labels (docs/router.md).

features.py     what the router reads from a request (first user turn, embedding, cheap features)
model.py        an artefact's parameters and scoring them (numpy only: the call path)
decision.py     `score_request` and `needs_strong`: the one decision path (gateway and router_eval)
call.py         the router inside one gateway call (core.Call._route)
store.py        artefacts in PostgreSQL, which one routes a tenant, loading once per process
dial.py         a tenant's dial -> threshold, and the cost/quality curve
evaluation.py   sweep, PGR, APGR (as RouteLLM defines them)
fitting.py      logistic regression with an offset (training only)
training.py     priors from labels of both tiers, residuals from a tenant's reviews
prior.py        the cold start from public labels; public_labels.py reads RouteLLM's MMLU labels
learning.py     retrain, shadow evaluation, promotion; labels.py writes labels
services.py     the console's writes; selectors.py its reads
"""
