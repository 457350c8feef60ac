"""Generated orders (customers, orders, items, dates, amounts, statuses) and ``orders-agent`` questions.

The orders belong to the retail and electronics companies of the support
generator and of the policy handbook (``handbook.py``), with its items, its
order-number format and its customer names, so a question can need both the
database and the handbook: "Can Kenji Becker still return order 88-41972?"
is answered by the order's delivery date (database), the company's return
window (handbook) and a subtraction (calculator).

Dates are ISO days counted back from ``TODAY``, a fixed day, so answers never
depend on when the generator runs.
"""

from __future__ import annotations

import datetime as dt
import random

from genlab.data.builtin._common import FIRST_NAMES, LAST_NAMES, check_part
from genlab.data.builtin._support_scenarios import INDUSTRIES
from genlab.data.builtin.handbook import companies, handbook_fact

TODAY = dt.date(2026, 11, 20)
STATUSES = ["delivered"] * 6 + ["shipped", "processing", "returned", "cancelled"]


def _order_number(rng: random.Random) -> str:
    letters = "ABCDEFGHKMNPRSTW"  # the support generator's order references
    return str(rng.randint(100000, 999999)) if rng.random() < 0.6 else \
        f"{rng.choice(letters)}{rng.choice(letters)}-{rng.randint(10000, 99999)}"


def generate_orders(n_customers: int = 150, seed: int = 0) -> dict[str, list[dict]]:
    """``{"customers": [...], "orders": [...], "items": [...]}``, deterministic given the arguments."""
    rng = random.Random(f"orders:{seed}")
    names = sorted({f"{f} {l}" for f in FIRST_NAMES for l in LAST_NAMES})
    customers = [dict(customer_id=i + 1, name=name, email=name.lower().replace(" ", ".") + "@example.com")
                 for i, name in enumerate(rng.sample(names, n_customers))]
    orders, items, used = [], [], set()
    for c in customers:
        for _ in range(rng.randint(1, 4)):
            number = _order_number(rng)
            while number in used:
                number = _order_number(rng)
            used.add(number)
            company, industry = rng.choice(companies())
            ordered = TODAY - dt.timedelta(days=rng.randint(1, 60))
            status = rng.choice(STATUSES)
            delivered = ordered + dt.timedelta(days=rng.randint(2, 8)) if status in ("delivered", "returned") else None
            if delivered and delivered > TODAY:
                delivered = TODAY
            qty, price = rng.choice([1, 1, 1, 2, 3]), round(rng.uniform(9, 400), 2)
            orders.append(dict(order_number=number, customer_id=c["customer_id"], company=company,
                               order_date=ordered.isoformat(), delivered_date=delivered and delivered.isoformat(),
                               status=status, total=round(qty * price, 2)))
            items.append(dict(order_number=number, item=rng.choice(INDUSTRIES[industry]["items"]), quantity=qty,
                              unit_price=price))
    return dict(customers=customers, orders=orders, items=items)


# -- questions --------------------------------------------------------------------
def can_return(order: dict) -> bool:
    """Delivered, and today is within the company's return window of the delivery day."""
    if order["status"] != "delivered":
        return False
    window = int(handbook_fact(order["company"], "return_window").answer.split()[0])
    return (TODAY - dt.date.fromisoformat(order["delivered_date"])).days <= window


QUESTIONS = {
    "can_return": (["Can {name} still return order {order}?", "Is order {order} from {name} still returnable?",
                    "Is {name} still allowed to send back order {order}?",
                    "Could {name} return order {order} today?"], lambda o, i: "yes" if can_return(o) else "no"),
    "total": (["How much did {name} pay for order {order}?", "What was the total of order {order} by {name}?",
               "What did order {order} cost {name}?", "How much was {name}'s order {order}?"],
              lambda o, i: f"${o['total']:.2f}"),
    "status": (["What is the status of {name}'s order {order}?", "Where is order {order} for {name} at?",
                "What state is order {order} of {name} in?", "Has {name}'s order {order} shipped yet? Give its status."],
               lambda o, i: o["status"]),
    "item": (["What did {name} buy in order {order}?", "Which product is in order {order} from {name}?",
              "What item did {name} order in {order}?", "What was in {name}'s order {order}?"],
             lambda o, i: i["item"]),
}


def generate_orders_agent(n: int, seed: int = 0, part: str = "seen") -> list[dict]:
    """``n`` questions about the orders database (seed 0), each with its exact answer and kind."""
    check_part(part)
    data = generate_orders()
    names = {c["customer_id"]: c["name"] for c in data["customers"]}
    items = {i["order_number"]: i for i in data["items"]}
    rows = []
    for i in range(n):
        rng = random.Random(f"orders-agent:{part}:{seed}:{i}")
        order = rng.choice(data["orders"])
        kind = rng.choice(["can_return", "can_return", "total", "status", "item"])
        phrasings, answer = QUESTIONS[kind]
        phrasing = phrasings[3] if part == "unseen" else rng.choice(phrasings[:3])
        rows.append(dict(id=f"orders-{part}-{seed}-{i}", kind=kind, order_number=order["order_number"],
                         question=phrasing.format(name=names[order["customer_id"]], order=order["order_number"]),
                         answer=answer(order, items[order["order_number"]])))
    return rows
