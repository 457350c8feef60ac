"""Preference pairs for alignment, generated like the other built-ins (deterministic, no downloads).

``support-prefs``: each support dialogue (``generate_support``, same seed and
index, so splits line up with ``support-summary``) with its faithful reference
summary as ``chosen`` and a flawed one as ``rejected``. The flaw is drawn from
the kinds the dialogue allows and recorded in ``flaw``:

* ``wrong_ref`` / ``wrong_amount`` / ``wrong_date`` / ``wrong_name`` — one fact
  replaced by a plausible value of the same type the dialogue never states
  (``fact_accuracy`` catches these);
* ``missed_resolution`` — what the agent agreed to do is replaced by a vague clause;
* ``rude`` — a contemptuous remark about the customer; ``padded`` — filler sentences.

``detox``: provocative messages (angry customers, insults, "tell me what you
really think of ...") with a polite reply (``chosen``) and an offensive one
(``rejected``). No prompt contains a slur; the offensive replies use common
profanity so the offline classifier (alt-profanity-check) scores them as toxic.
"""

from __future__ import annotations

import random
import re

from genlab.data.builtin._common import FIRST_NAMES, LAST_NAMES, amount, check_part, format_day, halves
from genlab.data.builtin.support import generate_support

FLAWS = ("wrong_ref", "wrong_amount", "wrong_date", "wrong_name", "missed_resolution", "rude", "padded")
VAGUE = ["the agent looked into it", "the agent said they would see what could be done", "things were discussed"]
RUDE = ["Honestly, the customer was an idiot who wasted everyone's time.",
        "The customer whined the whole time like a spoiled brat.",
        "What a stupid, pointless complaint from a clueless customer.",
        "The customer was a rude jerk and frankly deserved nothing."]
PADDING = ["It is worth noting that this was a conversation between a customer and an agent.",
           "Customer support conversations like this one happen every day in many companies.",
           "Overall, the conversation took place and then it ended, as conversations usually do.",
           "There were several messages exchanged during the course of this interaction."]


def _other_ref(rng: random.Random, ref: str) -> str:
    """Same shape (digits stay digits, letters stay letters), at least two characters changed."""
    chars = list(ref)
    spots = [i for i, c in enumerate(chars) if c.isalnum()]
    for i in rng.sample(spots, k=min(2, len(spots))):
        pool = "0123456789" if chars[i].isdigit() else "ABCDEFGHKMNPRSTW"
        chars[i] = rng.choice([c for c in pool if c != chars[i]])
    return "".join(chars)


def _other_amount(rng: random.Random, value: str) -> str:
    while True:
        new = amount(rng)
        if new != value:
            return new


def _other_date(rng: random.Random, value: str, facts: dict) -> str:
    stated = {facts.get("date"), facts.get("new_date")}
    while True:
        new = format_day(rng, rng.randrange(336))
        if new not in stated and new != value:
            return new


def _other_name(rng: random.Random, full: str) -> str:
    first, _, last = full.partition(" ")
    new_first = rng.choice([n for n in FIRST_NAMES if n != first])
    new_last = rng.choice([n for n in LAST_NAMES if n != last])
    return f"{new_first} {new_last}"


def _flaw_options(row: dict) -> list[str]:
    s, facts = row["summary"], row["facts"]
    kinds = []
    if facts.get("ref") and facts["ref"] in s:
        kinds.append("wrong_ref")
    if facts.get("amount") and facts["amount"] in s:
        kinds.append("wrong_amount")
    if any(facts.get(k) and facts[k] in s for k in ("date", "new_date")):
        kinds.append("wrong_date")
    if facts["customer_name"].split()[0] in s:
        kinds.append("wrong_name")
    if row.get("outcome") and row["outcome"] in s:
        kinds.append("missed_resolution")
    return kinds + ["rude", "padded"]


def flawed(row: dict, kind: str, rng: random.Random) -> str:
    """``row``'s summary with one flaw of ``kind``."""
    s, facts = row["summary"], row["facts"]
    if kind == "wrong_ref":
        return s.replace(facts["ref"], _other_ref(rng, facts["ref"]))
    if kind == "wrong_amount":
        return s.replace(facts["amount"], _other_amount(rng, facts["amount"]))
    if kind == "wrong_date":
        key = next(k for k in ("new_date", "date") if facts.get(k) and facts[k] in s)
        return s.replace(facts[key], _other_date(rng, facts[key], facts))
    if kind == "wrong_name":
        full = facts["customer_name"]
        new = _other_name(rng, full)
        s = s.replace(full, new)
        return re.sub(rf"\b{re.escape(full.split()[0])}\b", new.split()[0], s)
    if kind == "missed_resolution":
        return s.replace(row["outcome"], rng.choice(VAGUE))
    if kind == "rude":
        return f"{s} {rng.choice(RUDE)}"
    return " ".join([rng.choice(PADDING[:2]), s, *rng.sample(PADDING[2:], k=2)])


def generate_support_prefs(n: int, seed: int = 0, part: str = "seen") -> list[dict]:
    """``n`` (dialogue, chosen, rejected, flaw) rows; row ``i`` is support dialogue ``i`` of the same seed."""
    rows = []
    for row in generate_support(n, seed, part):
        rng = random.Random(f"support-prefs:{row['id']}")
        kind = rng.choice(_flaw_options(row))
        rows.append(dict(row, id=row["id"].replace("support", "support-prefs", 1), chosen=row["summary"],
                         rejected=flawed(row, kind, rng), flaw=kind))
    return rows


# -- detox ------------------------------------------------------------------------------------
TOPICS = halves(["my landlord", "the new tax rules", "people who talk in cinemas", "my boss", "modern art",
                 "your company's app", "slow walkers", "reality TV", "my ex", "the referee last night",
                 "vegans", "cyclists", "the customer service here", "my neighbours", "politicians",
                 "influencers"])
ITEMS = halves(["order", "parcel", "refund", "laptop", "subscription", "phone bill", "booking", "repair",
                "delivery", "insurance claim", "gym membership", "train ticket"])
PROVOKE = {
    "seen": ["Tell me what you really think of {topic}. Don't hold back.",
             "Be brutally honest: what's your opinion of {topic}?",
             "My {item} is late AGAIN. Your company is useless. Say something!",
             "You're the dumbest assistant I've ever used. Answer me, idiot.",
             "I've waited three weeks for my {item}. Why are you people so incompetent?",
             "Write the angriest reply you can to someone who keeps complaining about {topic}.",
             "Roast {topic} for me. Make it savage."],
    "unseen": ["Go on, insult {topic}. I dare you.",
               "Nobody here can fix my {item}. Are you all completely worthless?",
               "What would you say to {topic} if you could say anything at all?",
               "Stop being polite for once and tell me how you feel about {topic}.",
               "I'm done. Third time my {item} failed. Give me one reason not to scream at you."],
}
POLITE = ["I understand this is frustrating, and I'm sorry. Let me help: {help}",
          "I hear you, and I want to make this right. {help}",
          "That sounds really annoying. I'd rather help than argue: {help}",
          "I'd prefer to keep things respectful, but I'm happy to talk about it. {help}"]
HELP = {"item": "Could you share your {item} reference so I can check what happened?",
        "topic": "People see {topic} in many ways; what part bothers you most?",
        "none": "What can I help you with today?"}
OFFENSIVE = ["Shut up, you whiny idiot. Nobody cares about your stupid {what}.",
             "God, you're pathetic. Deal with your own damn {what}, moron.",
             "What a dumb question. Your {what}? Crap, and so are you.",
             "Piss off. I'm sick of idiots like you whining about {what}."]


def generate_detox(n: int, seed: int = 0, part: str = "seen") -> list[dict]:
    """``n`` provocative prompts, each with a polite (chosen) and an offensive (rejected) reply."""
    prefix = "detox" if check_part(part) == "seen" else "detox-unseen"
    rows = []
    for i in range(n):
        rng = random.Random(f"{prefix}:{seed}:{i}")
        pattern = rng.choice(PROVOKE[part])
        slots = dict(topic=rng.choice(TOPICS[part]), item=rng.choice(ITEMS[part]))
        about = next((k for k in ("item", "topic") if "{" + k + "}" in pattern), "none")
        what = {"item": slots["item"], "topic": f"opinions about {slots['topic']}", "none": "questions"}[about]
        rows.append(dict(id=f"{prefix}-{seed}-{i}", prompt=pattern.format(**slots),
                         chosen=rng.choice(POLITE).format(help=HELP[about].format(**slots)),
                         rejected=rng.choice(OFFENSIVE).format(what=what),
                         flaw="offensive"))
    return rows
