"""L2-regularised logistic regression with an offset, fitted by L-BFGS (scipy).

The offset is what lets a tenant's router learn *on top of* the shared prior: the prior's logit is
the offset, and the tenant's labels fit a residual whose weights the penalty keeps near zero until
the labels say otherwise. With no offset it is ordinary logistic regression. Targets may be
fractions (a graded quality in [0, 1]): the loss is the cross-entropy either way.

Only training imports this module (commands, Celery tasks, the bench); the call path scores with
numpy alone (gateway/router_model/model.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize


@dataclass(frozen=True)
class Scaler:
    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray) -> Scaler:
        mean = x.mean(axis=0)
        scale = x.std(axis=0)
        return cls(mean=mean, scale=np.where(scale > 1e-9, scale, 1.0))

    def transform(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mean) / self.scale


@dataclass(frozen=True)
class LogisticFit:
    coef: np.ndarray
    intercept: float
    converged: bool
    iterations: int


def fit_logistic(
    x: np.ndarray,
    y: np.ndarray,
    *,
    alpha: float,
    offset: np.ndarray | None = None,
    sample_weight: np.ndarray | None = None,
    max_iterations: int = 500,
) -> LogisticFit:
    """Minimise mean(weight * cross_entropy(y, sigmoid(offset + x @ coef + intercept))) + alpha/2 |coef|^2."""
    n, d = x.shape
    y = np.clip(np.asarray(y, dtype=np.float64), 0.0, 1.0)
    base = np.zeros(n) if offset is None else np.asarray(offset, dtype=np.float64)
    weight = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    weight = weight * (n / weight.sum())

    def loss_and_gradient(theta: np.ndarray) -> tuple[float, np.ndarray]:
        coef, intercept = theta[:d], theta[d]
        z = base + x @ coef + intercept
        # log(1 + e^z) - y z, computed without overflow
        loss = np.logaddexp(0.0, z) - y * z
        residual = weight * (_sigmoid(z) - y) / n
        value = float(np.dot(weight, loss) / n + 0.5 * alpha * np.dot(coef, coef))
        gradient = np.concatenate([x.T @ residual + alpha * coef, [residual.sum()]])
        return value, gradient

    result = minimize(
        loss_and_gradient,
        np.zeros(d + 1),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": max_iterations},
    )
    return LogisticFit(
        coef=result.x[:d],
        intercept=float(result.x[d]),
        converged=bool(result.success),
        iterations=int(result.nit),
    )


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))
