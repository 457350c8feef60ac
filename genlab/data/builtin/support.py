"""Customer-support dialogues with reference summaries and extraction targets.

One generator feeds two tasks: ``support-summary`` (dialogue -> 1-3 sentence
summary) and ``support-extract`` (dialogue -> JSON of customer name, order
number, product, requested action). A dialogue is built turn by turn from a
scenario table (``_support_scenarios``); the summary is built from the same
choices, so it always says who wanted what and what was finally agreed.

Summaries keep a recognisable shape ("<Name> contacted support because
<problem>. The agent <resolution>.") with several paraphrases, so a small model
can learn the shape by fine-tuning while the wording still varies.
"""

from __future__ import annotations

import json
import random
import re

from genlab.data.builtin._common import (AGENT_NAMES, amount, day_of_year, format_day, order_number, person,
                                          pick, sentence_case)
from genlab.data.builtin._support_scenarios import CITIES, POOLS, SCENARIOS

COMPANIES = ["ShopRight", "Nordwind", "Brightline", "HomeNest", "Parcelly", "Vista", "Kestrel", "Lumo"]

GREET_AGENT = ["Hi, thanks for contacting {company} support. My name is {agent}. How can I help you today?",
               "Hello, you're chatting with {agent} from {company}. What can I do for you?",
               "Good morning! This is {agent} at {company} customer care. How can I help?",
               "Hi there, {agent} here. How can I help you today?"]
GREET_CUSTOMER = ["Hi, ", "Hello. ", "Hi there. ", "Good morning. ", "Hey, ", ""]
INTRO = ["This is {full}. ", "My name is {full}. ", "I'm {full}. ", "{full} here. "]
EMPATHY = ["I'm sorry to hear that.", "Oh no, I'm sorry about that.", "I understand, that's frustrating.",
           "Thanks for letting us know, and sorry for the trouble.", "I'm really sorry about this."]
NEUTRAL = ["Sure, I can help with that.", "Of course, happy to help.", "No problem, let's sort that out.",
           "Certainly."]
NEUTRAL_KEYS = {"refund", "cancel_subscription", "address_change", "booking_change", "upgrade_plan", "return_item"}
ASK_ORDER = ["Could you give me the order number?", "Can I have your order number, please?",
             "What's the order number so I can look it up?", "Do you have the order number handy?"]
ASK_ACCOUNT = ["Can you confirm some details on the account for me?", "Could you tell me a bit more so I can find the account?",
               "Can you verify the account for me?"]
ASK_NAME = ["And may I have your name?", "Who am I speaking with?", "Can I get your full name as well?"]
HOLD_AGENT = ["Give me a moment while I look into this.", "Let me check that for you, one moment.",
              "Bear with me for a minute while I pull up the details."]
HOLD_CUSTOMER = ["Sure.", "No problem, take your time.", "Okay, thanks.", "Of course."]
SMALL_TALK = [
    ("Sorry if I sound stressed, it's been a crazy week with work.", "No worries at all, we'll get this sorted."),
    ("By the way, is your summer sale still on?", "It is, it runs until the end of the month."),
    ("It's pouring rain here, so I'm not going anywhere anyway.", "Ha, same here! Perfect weather for staying in."),
    ("I've been a customer for years and this has never happened before.", "We really appreciate your loyalty."),
    ("Do you also sell gift cards?", "We do, you can buy them on our website in any amount."),
    ("My neighbour recommended you, actually.", "That's lovely to hear!"),
]
PUSHBACK = ["Hmm, is there anything else you can do?", "That doesn't really work for me, to be honest.",
            "I'd prefer another option if possible.", "Is that the only option?"]
ACCEPT = ["That works, thank you.", "Perfect, thanks a lot.", "Okay, that's fine.", "Great, I appreciate it.",
          "Thank you, that's really helpful.", "Sounds good."]
ANYTHING_ELSE = ["Is there anything else I can help you with?", "Anything else I can do for you today?",
                 "Can I help with anything else?"]
NO_MORE = ["No, that's everything. Thanks!", "That's all, thank you.", "Nope, you've been great.", "No, I'm all set."]
CLOSE = ["Have a great day, {first}!", "Thanks for your patience, {first}. Take care!", "You're welcome. Goodbye!",
         "Glad I could help. Have a nice evening!"]

OPENERS = ["{name} contacted support because {problem}.", "{name} got in touch because {problem}.",
           "{name} reached out about {topic}.", "{name} wrote to support about {topic}.",
           "{name} told support that {problem}."]
CLOSERS = ["The agent {resolution}.", "The agent {resolution}.", "{agent} from support {resolution}.",
           "Support {resolution}."]
ONE_SENTENCE = ["{name} contacted support about {topic}, and the agent {resolution}.",
                "{name} asked support about {topic}; the agent {resolution}."]
EXTRA = {"pushback": ["{first} rejected the first offer.", "{first} was not happy with the first option."],
         "sale": ["{first} also asked about the summer sale.", "They also talked about the summer sale."],
         "gift": ["{first} also asked about gift cards."]}


def _slots(rng: random.Random, scenario: dict) -> dict:
    item = rng.choice(POOLS[scenario["pool"]])
    has_order = scenario["pool"] != "services"
    article = "an" if item[0].lower() in "aeiou" else "a"
    past = day_of_year(rng)
    return dict(product=item, a_product=f"{article} {item}", service=item, order=order_number(rng) if has_order else None,
                date=format_day(rng, past), new_date=format_day(rng, day_of_year(rng, after=past)), amount=amount(rng), fee=amount(rng, 4, 20), city=rng.choice(CITIES),
                days=rng.choice([2, 3, 5, 7, 10, 14]), last4=f"{rng.randint(0, 9999):04d}")


def _opening(rng, scenario, s, who) -> tuple[list[tuple[str, str]], bool]:
    """The first turns; returns them and whether the customer already gave their name."""
    turns = []
    if rng.random() < 0.6:
        turns.append(("agent", pick(rng, GREET_AGENT, **who)))
    named = rng.random() < 0.5
    greeting = rng.choice(GREET_CUSTOMER)
    rest = (pick(rng, INTRO, **who) if named else "") + pick(rng, scenario["open"], **s)
    if greeting.endswith(", ") and not re.match(r"I\b|" + re.escape(who["full"]), rest):
        rest = rest[:1].lower() + rest[1:]  # "Hi, my order..." but "Hi, I'm..." and "Hi, Maria Lopez here"
    turns.append(("customer", sentence_case(greeting + rest)))
    return turns, named


def _details(rng, scenario, s, who, named) -> list[tuple[str, str]]:
    """The agent gathers the order number and name; the order number always appears."""
    ask = ASK_ORDER if s["order"] else ASK_ACCOUNT
    ack = NEUTRAL if scenario["key"] in NEUTRAL_KEYS else EMPATHY
    turns = [("agent", f"{rng.choice(ack)} {rng.choice(ask)}" + ("" if named else f" {rng.choice(ASK_NAME)}"))]
    detail = pick(rng, scenario["details"], **s)
    if s["order"] and s["order"] not in detail:
        detail += f" The order number is {s['order']}."
    turns.append(("customer", detail + ("" if named else f" My name is {who['full']}.")))
    return turns


def _middle(rng, scenario, s, events) -> list[tuple[str, str]]:
    """Optional hold, check and small talk: what makes dialogues differ in length."""
    turns = []
    if rng.random() < 0.5:
        turns += [("agent", rng.choice(HOLD_AGENT)), ("customer", rng.choice(HOLD_CUSTOMER))]
    turns.append(("agent", pick(rng, scenario["check"], **s)))
    for idx in rng.sample(range(len(SMALL_TALK)), k=rng.choice([0, 0, 1, 1, 2])):
        turns += [("customer", SMALL_TALK[idx][0]), ("agent", SMALL_TALK[idx][1])]
        events.add({1: "sale", 4: "gift"}.get(idx, "smalltalk"))
    return turns


def _resolution(rng, scenario, s, events) -> tuple[list[tuple[str, str]], str]:
    """The agent offers a fix; sometimes the customer pushes back and a second one is agreed."""
    options = rng.sample(scenario["resolutions"], k=len(scenario["resolutions"]))
    turns = []
    if len(options) > 1 and rng.random() < 0.25:
        turns += [("agent", options[0][0].format(**s)), ("customer", rng.choice(PUSHBACK))]
        events.add("pushback")
        options = options[1:]
    said, summary = options[0]
    turns += [("agent", said.format(**s)), ("customer", rng.choice(ACCEPT))]
    return turns, summary.format(**s)


def _closing(rng, who) -> list[tuple[str, str]]:
    if rng.random() < 0.3:
        return []
    turns = [("agent", rng.choice(ANYTHING_ELSE)), ("customer", rng.choice(NO_MORE))]
    return turns + ([("agent", pick(rng, CLOSE, **who))] if rng.random() < 0.7 else [])


_SLOT = re.compile(r"\{(\w+)\}")


def grounded(options: list[str], values: dict, text: str) -> list[str]:
    """Phrasings whose slot values all occur in the dialogue: a summary states no fact the dialogue lacks."""
    def ok(option: str) -> bool:
        keys = {"product" if k == "a_product" else k for k in _SLOT.findall(option)}
        return all(str(values[k]) in text for k in keys if k in values)

    return [o for o in options if ok(o)] or options


def _summary(rng, scenario, s, who, resolution, events, text: str) -> str:
    slots = dict(name=who["full"], first=who["first"], agent=who["agent"], resolution=resolution,
                 problem=pick(rng, grounded(scenario["problem"], s, text), **s),
                 topic=pick(rng, grounded(scenario["topic"], s, text), **s))
    if rng.random() < 0.2:
        parts = [pick(rng, ONE_SENTENCE, **slots)]
    else:
        closers = grounded(CLOSERS, {"agent": who["agent"]}, text)
        parts = [pick(rng, OPENERS, **slots), pick(rng, closers, **slots)]
    extras = [e for e in ("pushback", "sale", "gift") if e in events]
    if extras and rng.random() < 0.6:
        parts.insert(1 if "pushback" in extras[:1] else len(parts), pick(rng, EXTRA[extras[0]], **slots))
    return " ".join(parts)


def _merge(turns):
    """Join back-to-back lines by the same speaker into one turn, as chat logs show them."""
    merged: list[tuple[str, str]] = []
    for role, text in turns:
        if merged and merged[-1][0] == role:
            merged[-1] = (role, f"{merged[-1][1]} {text}")
        else:
            merged.append((role, text))
    return merged


def _render(turns, who, style: str) -> str:
    labels = {"plain": ("Customer", "Agent"), "names": (who["first"], who["agent"]),
              "mixed": (who["first"], "Agent")}[style]
    return "\n".join(f"{labels[0] if role == 'customer' else labels[1]}: {text}" for role, text in turns)


def support_dialogue(rng: random.Random) -> dict:
    """One dialogue with its summary and extraction fields."""
    scenario = rng.choice(SCENARIOS)
    s = _slots(rng, scenario)
    first, full = person(rng)
    who = dict(first=first, full=full, agent=rng.choice(AGENT_NAMES), company=rng.choice(COMPANIES))
    events: set[str] = set()
    turns, named = _opening(rng, scenario, s, who)
    turns += _details(rng, scenario, s, who, named)
    if s["product"] not in " ".join(text for _, text in turns):  # the extraction target must be in the text
        turns[-1] = ("customer", turns[-1][1] + f" It's for {s['a_product']}.")
    if rng.random() < 0.8:
        turns += _middle(rng, scenario, s, events)
    res_turns, resolution = _resolution(rng, scenario, s, events)
    turns = _merge(turns + res_turns + _closing(rng, who))
    style = rng.choice(["plain", "plain", "names", "mixed"])
    fields = dict(customer_name=full, order_number=s["order"], product=s["product"],
                  requested_action=scenario["action"])
    dialogue = _render(turns[:20], who, style)
    return dict(dialogue=dialogue, summary=_summary(rng, scenario, s, who, resolution, events, dialogue),
                **fields, extraction=json.dumps(fields, ensure_ascii=False),
                scenario=scenario["key"], turns=min(len(turns), 20))


def generate_support(n: int, seed: int = 0) -> list[dict]:
    """``n`` dialogues, deterministic given ``seed`` (one RNG per example, so prefixes agree)."""
    return [dict(id=f"support-{seed}-{i}", **support_dialogue(random.Random(f"support:{seed}:{i}")))
            for i in range(n)]
