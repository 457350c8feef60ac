"""Tools for agents: typed Python functions registered by name, their docstrings shown to the model.

A tool takes its arguments as the text inside ``tool[...]``: one argument is
the whole text; several are separated by ``|``. Each is converted to the
function's annotated type (str, int, float). Wrong arity, a bad value or a tool
that raises becomes an error *observation* the model reads on its next step;
the agent loop never crashes on what the model wrote.
"""

from __future__ import annotations

import ast
import datetime as dt
import inspect
import operator
from dataclasses import dataclass
from typing import Callable

from genlab.errors import GenlabError

MAX_OBSERVATION = 600  # characters: a long observation would crowd the question out of the context


class ToolError(Exception):
    """A problem the model caused and can fix (shown to it as the observation)."""


@dataclass
class Tool:
    name: str
    fn: Callable[..., str]

    @property
    def params(self) -> list[inspect.Parameter]:
        return list(inspect.signature(self.fn).parameters.values())

    @property
    def doc(self) -> str:
        return inspect.getdoc(self.fn).splitlines()[0]

    def signature(self) -> str:
        args = ", ".join(f"{p.name}: {getattr(p.annotation, '__name__', p.annotation)}" for p in self.params)
        return f"{self.name}[{args}]"

    def call(self, text: str) -> str:
        values = [v.strip() for v in text.split("|")] if len(self.params) > 1 else [text.strip()]
        if len(values) != len(self.params):
            raise ToolError(f"{self.name} takes {len(self.params)} argument(s): {self.signature()}")
        args = [_convert(v, p) for v, p in zip(values, self.params)]
        return str(self.fn(*args))


def _convert(value: str, p: inspect.Parameter):
    kind = p.annotation if p.annotation is not inspect.Parameter.empty else str
    if isinstance(kind, str):  # postponed annotations ("from __future__ import annotations")
        kind = {"str": str, "int": int, "float": float}.get(kind, str)
    if kind is str:
        if not value:
            raise ToolError(f"argument {p.name} is empty")
        return value
    try:
        return kind(value.replace(",", "").replace("$", ""))
    except ValueError:
        raise ToolError(f"argument {p.name} must be a {kind.__name__}, got {value!r}") from None


class Registry:
    def __init__(self, tools: list[Tool] | None = None):
        self.tools = {t.name: t for t in tools or []}

    def add(self, name: str, fn: Callable[..., str]) -> None:
        if not inspect.getdoc(fn):
            raise GenlabError(f"tool {name!r} has no docstring", hint="the docstring is what the model reads")
        self.tools[name] = Tool(name, fn)

    def describe(self) -> str:
        return "\n".join(f"- {t.signature()}: {t.doc}" for t in self.tools.values())

    def run(self, name: str, args: str) -> tuple[str, bool]:
        """(observation, ok). Never raises for what the model wrote."""
        tool = self.tools.get(name)
        if tool is None:
            return f"Error: unknown tool {name!r}. Tools: {', '.join(self.tools)}.", False
        try:
            out = tool.call(args)
        except ToolError as e:
            return f"Error: {e}", False
        except GenlabError as e:
            return f"Error: {e.message}", False
        except Exception as e:  # noqa: BLE001 - a tool bug is an observation, the loop goes on
            return f"Error: {name} failed: {type(e).__name__}: {e}", False
        return out[:MAX_OBSERVATION], True


# -- calculator -------------------------------------------------------------------------
_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
        ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
        ast.USub: operator.neg, ast.UAdd: operator.pos}


def arithmetic_only(expression: str) -> str:
    """The expression, cleaned (no $ or thousands commas), if it is numbers and operators only."""
    clean = expression.replace("$", "").replace(",", "").strip()
    try:
        tree = ast.parse(clean, mode="eval")
    except SyntaxError:
        raise ToolError(f"not an arithmetic expression: {expression!r}") from None
    for node in ast.walk(tree.body):
        ok = (isinstance(node, (ast.BinOp, ast.UnaryOp)) and type(node.op) in _OPS) or type(node) in _OPS or (
            isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool))
        if not ok:
            raise ToolError(f"only numbers and + - * / % ** ( ) are allowed, not {type(node).__name__}")
    return clean


def sandboxed_arithmetic(expression: str) -> str:
    """Checked on the AST (arithmetic only), then computed in the PAL sandbox (genlab.apps.sandbox): a
    separate process with CPU, memory and time limits, so even 9**9**9 cannot stall the agent."""
    from genlab.apps.sandbox import run_python

    clean = arithmetic_only(expression)
    result = run_python(f"print(repr({clean}))")
    if not result.ok:
        reason = result.killed_by or (result.error or "failed").strip().splitlines()[-1]
        raise ToolError(f"could not compute {expression!r}: {reason}")
    return _number(float(result.stdout.strip()))


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:.4f}".rstrip("0")


# -- the built-in tool set ---------------------------------------------------------------
def builtin_tools(db, index=None, encoder=None, today: dt.date | None = None) -> Registry:
    """search (the handbook index), get_order, customer_orders (the read-only DB), days_since, calculator."""
    from genlab.data.builtin.orders import TODAY

    today = today or TODAY
    reg = Registry()

    def get_order(order_number: str) -> str:
        """Look up one order by its number: customer, company, item, total, dates and status."""
        row = db.order(order_number)
        if row is None:
            raise ToolError(f"no order {order_number!r}")
        return "; ".join(f"{k}: {v}" for k, v in row.items())

    def customer_orders(name: str) -> str:
        """List a customer's orders by the customer's full name."""
        rows = db.customer_orders(name)
        if not rows:
            raise ToolError(f"no customer named {name!r}")
        return "\n".join("; ".join(f"{k}: {v}" for k, v in r.items()) for r in rows)

    def days_since(date: str) -> str:
        """Days from an ISO date (YYYY-MM-DD) until today."""
        try:
            day = dt.date.fromisoformat(date.strip())
        except ValueError:
            raise ToolError(f"not an ISO date (YYYY-MM-DD): {date!r}") from None
        return str((today - day).days)

    def calculator(expression: str) -> str:
        """Compute an arithmetic expression such as 30 - 12 or 2 * 19.99."""
        return sandboxed_arithmetic(expression)

    reg.add("get_order", get_order)
    reg.add("customer_orders", customer_orders)
    reg.add("days_since", days_since)
    reg.add("calculator", calculator)
    if index is not None:
        from genlab.apps.rag import retrieve

        def search(query: str) -> str:
            """Search the policy handbook; returns the two best passages."""
            hits = retrieve(index, encoder, [query], k=2)[0]
            return " ".join(" ".join(h.chunk.text.split()) for h in hits)

        reg.add("search", search)
    return reg
