"""Arithmetic word problems (shopping, refunds, shipping fees, time) with 1-4 steps.

Each example has the ``question``, the numeric ``answer`` (as text: ``"21.5"``,
``"42"``), a worked ``rationale`` (one sentence per step, ending "The answer is X.")
for chain-of-thought demonstrations, and a Python ``program`` that prints the
answer, for program-aided (PAL) demonstrations and tuning. Rationale, program and
answer come from the same list of steps, so they cannot disagree.
``part="unseen"`` draws names, items and phrasings that ``part="seen"`` never uses.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from genlab.data.builtin._common import check_part, halves, person

ITEMS = halves([  # (singular, plural, price range in dollars)
    ("notebook", "notebooks", (2, 9)), ("mug", "mugs", (4, 15)), ("T-shirt", "T-shirts", (8, 30)),
    ("lamp", "lamps", (15, 60)), ("cable", "cables", (3, 12)), ("towel", "towels", (5, 20)),
    ("puzzle", "puzzles", (6, 25)), ("candle", "candles", (3, 14)), ("backpack", "backpacks", (20, 70)),
    ("plant pot", "plant pots", (4, 18)), ("phone case", "phone cases", (7, 25)), ("pillow", "pillows", (9, 35)),
    ("kettle", "kettles", (18, 55)), ("scarf", "scarves", (10, 40)), ("water bottle", "water bottles", (6, 22)),
    ("board game", "board games", (15, 45)),
])
QUESTIONS = halves([
    "How much does {name} pay in total?", "What is the total cost?", "How many dollars does {name} spend?",
    "What does {name} pay altogether?", "How much money does {name} need?", "What is the final bill?",
    "How much is charged in the end?", "What is the amount {name} pays?",
])
REFUND_QUESTIONS = halves([
    "How much money does {name} get back?", "What is the refund?", "How many dollars are refunded?",
    "How much is returned to {name}?",
])
TIME_TASKS = halves([  # (activity, plural unit)
    ("packs an order", "orders"), ("answers a support call", "calls"), ("repairs a laptop", "laptops"),
    ("delivers a parcel", "parcels"), ("checks in a guest", "guests"), ("prints a poster", "posters"),
    ("tests a device", "devices"), ("wraps a gift", "gifts"),
])


@dataclass
class Steps:
    """Steps of a solution, each as a worked sentence and a line of Python."""

    lines: list[str] = field(default_factory=list)
    code: list[str] = field(default_factory=list)

    def given(self, var: str, value: float) -> float:
        self.code.append(f"{var} = {num(value)}")
        return value

    def step(self, var: str, expr: str, value: float, sentence: str) -> float:
        # unrounded, computed in the program's order, so the program prints exactly the answer
        self.code.append(f"{var} = {expr}")
        self.lines.append(f"{sentence} = {money_or_num(value, sentence)}.")
        return value


def num(x: float) -> str:
    """``12`` for whole numbers, ``12.5``/``3.25`` otherwise (the answer format)."""
    x = round(x, 2)
    return str(int(x)) if x == int(x) else f"{x:.2f}".rstrip("0")


def dollars(x: float) -> str:
    return f"${x:.2f}" if round(x, 2) != int(x) else f"${int(x)}"


def money_or_num(x: float, sentence: str) -> str:
    return dollars(x) if "$" in sentence else num(x)


def price(rng: random.Random, lo: int, hi: int) -> float:
    return rng.randint(lo, hi) + rng.choice([0, 0, 0.5, 0.25, 0.75, 0.99])


def shopping(rng: random.Random, part: str, n_steps: int) -> tuple[str, Steps, float]:
    """1: one item; 2: + coupon; 3: two items; 4: two items + coupon, or one item + discount + coupon."""
    name, _ = person(rng, part)
    (s1, p1_name, r1), (s2, p2_name, r2) = rng.sample(ITEMS[part], 2)
    two_items = n_steps == 3 or (n_steps == 4 and rng.random() < 0.5)
    discount = n_steps == 4 and not two_items
    coupon = n_steps in (2, 4)
    q1, p1 = rng.randint(2, 6), price(rng, *r1)
    s = Steps()
    s.given("quantity_1", q1), s.given("price_1", p1)
    total = s.step("total", "quantity_1 * price_1", q1 * p1, f"{q1} {p1_name} cost {q1} x {dollars(p1)}")
    text = f"{name} buys {q1} {p1_name} at {dollars(p1)} each"
    if two_items:
        q2, p2 = rng.randint(1, 4), price(rng, *r2)
        noun = p2_name if q2 > 1 else s2
        s.given("quantity_2", q2), s.given("price_2", p2)
        cost2 = s.step("cost_2", "quantity_2 * price_2", q2 * p2, f"{q2} {noun} cost {q2} x {dollars(p2)}")
        text += f" and {q2} {noun} at {dollars(p2)} each"
        total = s.step("total", "total + cost_2", total + cost2, f"Together that is {dollars(total)} + {dollars(cost2)}")
    text += "."
    if discount:
        pct = rng.choice([10, 20, 25, 50])
        s.given("discount_percent", pct)
        off = s.step("discount", "total * discount_percent / 100", total * pct / 100,
                     f"The {pct}% discount is {dollars(total)} x {pct} / 100")
        total = s.step("total", "total - discount", total - off, f"After the discount {dollars(total)} - {dollars(off)}")
        text += f" " + rng.choice([f"Everything is {pct}% off at the register.", f"The shop gives {pct}% off the total."])
    if coupon:
        value = rng.choice([2, 3, 5, 10])
        s.given("coupon", value)
        total = s.step("total", "total - coupon", total - value, f"With the coupon {dollars(total)} - {dollars(value)}")
        text += f" {name} also uses a {dollars(value)} coupon" + ("." if not discount else " after that.")
    return f"{text} {rng.choice(QUESTIONS[part]).format(name=name)}", s, total


def refund(rng: random.Random, part: str, n_steps: int) -> tuple[str, Steps, float]:
    """1: all returned; 2: some returned, minus a label; 3: some, minus restocking fees; 4: fees and label."""
    name, _ = person(rng, part)
    single, plural, (lo, hi) = rng.choice(ITEMS[part])
    bought, p = rng.randint(3, 8), price(rng, lo, hi)
    returned = rng.randint(1, bought - 1) if n_steps >= 2 else bought
    s = Steps()
    s.given("returned", returned), s.given("price", p)
    back = s.step("refund", "returned * price", returned * p, f"{returned} returned {plural} are worth {returned} x {dollars(p)}")
    text = f"{name} bought {bought} {plural} for {dollars(p)} each and returned {returned if returned < bought else 'all'} of them."
    if n_steps >= 3:
        fee = rng.choice([1, 2, 1.5, 2.5, 3])
        s.given("fee_per_item", fee)
        fees = s.step("fees", "returned * fee_per_item", returned * fee, f"The restocking fee is {returned} x {dollars(fee)}")
        back = s.step("refund", "refund - fees", back - fees, f"The refund is {dollars(back)} - {dollars(fees)}")
        text += f" The store keeps a restocking fee of {dollars(fee)} per returned item."
    if n_steps in (2, 4):
        label = rng.choice([4.95, 5, 6.5, 3.99])
        s.given("return_label", label)
        back = s.step("refund", "refund - return_label", back - label, f"Minus the return label {dollars(back)} - {dollars(label)}")
        text += f" A return shipping label of {dollars(label)} is taken off the refund."
    return f"{text} {rng.choice(REFUND_QUESTIONS[part]).format(name=name)}", s, back


def shipping(rng: random.Random, part: str, n_steps: int) -> tuple[str, Steps, float]:
    """1: items only (free shipping); 2: + flat fee; 3: + fee per item; 4: + sales tax."""
    name, _ = person(rng, part)
    single, plural, (lo, hi) = rng.choice(ITEMS[part])
    q, p = rng.randint(2, 6), price(rng, lo, hi)
    s = Steps()
    s.given("quantity", q), s.given("price", p)
    total = s.step("total", "quantity * price", q * p, f"The {plural} cost {q} x {dollars(p)}")
    text = f"{name} orders {q} {plural} online at {dollars(p)} each."
    if n_steps == 1:
        return f"{text} Shipping is free. {rng.choice(QUESTIONS[part]).format(name=name)}", s, total
    base = rng.choice([3, 4.5, 5, 6.99, 7.5])
    fee = s.given("shipping", base)
    if n_steps >= 3:
        per_item = rng.choice([0.5, 1, 1.25, 2])
        s.given("per_item_fee", per_item)
        fee = s.step("shipping", "shipping + quantity * per_item_fee", base + q * per_item,
                     f"Shipping is {dollars(base)} + {q} x {dollars(per_item)}")
        text += f" Shipping costs {dollars(base)} plus {dollars(per_item)} per item."
    else:
        text += f" Shipping costs a flat {dollars(base)}."
    total = s.step("total", "total + shipping", total + fee, f"With shipping {dollars(total)} + {dollars(fee)}")
    if n_steps >= 4:
        pct = rng.choice([5, 8, 10])
        s.given("tax_percent", pct)
        total = s.step("total", "total * (1 + tax_percent / 100)", total * (1 + pct / 100),
                       f"With {pct}% sales tax {dollars(total)} x {1 + pct / 100:g}")
        text += f" Sales tax of {pct}% is added to everything, shipping included."
    return f"{text} {rng.choice(QUESTIONS[part]).format(name=name)}", s, total


def timing(rng: random.Random, part: str, n_steps: int) -> tuple[str, Steps, float]:
    """1: count x minutes; 2: + setup; 3: + breaks between jobs; 4: breaks, then in hours."""
    name, _ = person(rng, part)
    activity, unit = rng.choice(TIME_TASKS[part])
    k, m = rng.randint(3, 12), rng.randint(4, 25)
    s = Steps()
    s.given("count", k), s.given("minutes_each", m)
    total = s.step("minutes", "count * minutes_each", k * m, f"{k} {unit} take {k} x {m} minutes")
    text = f"{name} {activity} in {m} minutes and has {k} {unit} to do."
    if n_steps == 2:
        setup = rng.choice([10, 15, 20, 30])
        s.given("setup_minutes", setup)
        total = s.step("minutes", "minutes + setup_minutes", total + setup, f"With setup {num(total)} + {setup}")
        text += f" Getting set up first takes {setup} minutes."
    if n_steps >= 3:
        b = rng.choice([2, 3, 5, 10])
        s.given("break_minutes", b)
        breaks = s.step("breaks", "(count - 1) * break_minutes", (k - 1) * b,
                        f"There are {k - 1} breaks of {b} minutes, {k - 1} x {b}")
        total = s.step("minutes", "minutes + breaks", total + breaks, f"Work plus breaks is {num(total)} + {num(breaks)}")
        text += f" {name} takes a {b}-minute break between two of them."
    if n_steps == 4:
        total = s.step("hours", "minutes / 60", total / 60, f"In hours that is {num(total)} / 60")
        return f"{text} How many hours does it take in total? Round to two decimals.", s, total
    return f"{text} How many minutes does it take in total?", s, total


FAMILIES = {"shopping": shopping, "refund": refund, "shipping": shipping, "time": timing}


def problem(rng: random.Random, part: str) -> dict:
    kind = rng.choice(list(FAMILIES))
    n_steps = rng.randint(1, 4)
    question, steps, answer = FAMILIES[kind](rng, part, n_steps)
    answer_text = num(answer)
    rationale = " ".join(steps.lines) + f" The answer is {answer_text}."
    program = "\n".join(steps.code + [f"print(round({_last_var(steps)}, 2))"])
    return dict(question=question, answer=answer_text, rationale=rationale, program=program, kind=kind,
                steps=len(steps.lines))


def _last_var(steps: Steps) -> str:
    return steps.code[-1].split(" = ")[0]


def generate_word_math(n: int, seed: int = 0, part: str = "seen") -> list[dict]:
    """``n`` word problems, deterministic given ``seed`` and ``part``."""
    prefix = "word-math" if check_part(part) == "seen" else "word-math-unseen"
    return [dict(id=f"{prefix}-{seed}-{i}", **problem(random.Random(f"{prefix}:{seed}:{i}"), part)) for i in range(n)]
