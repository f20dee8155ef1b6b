"""Budgets: the Redis ledger that reserves and settles spend atomically, the rebuild of its counters
from traces, and which budget windows a call spends from (`windows`).

`windows` reads the gateway's models; import it directly (`gateway.budgets.windows`) so that this
package stays importable by the Redis primitives alone.
"""

from gateway.budgets.ledger import BudgetLedger
from gateway.budgets.types import BudgetWindow, Grant, WindowSpend

__all__ = ["BudgetLedger", "BudgetWindow", "Grant", "WindowSpend"]
