"""Phrasings for the support dialogues: what agents and customers say, how customers write, summary styles.

Every phrasing family is split with ``halves``: train, validation and test use
``[\"seen\"]``, ``test-unseen`` uses ``[\"unseen\"]``. Summary styles are shared
by both parts on purpose: the unseen split tests new situations, names and
wording in the *dialogue*, not a summary format the model was never shown.
"""

from __future__ import annotations

import random
import re

from genlab.data.builtin._common import halves, sentence_case

H = halves

GREET_AGENT = H(["Hi, thanks for contacting {company}. My name is {agent}. How can I help?",
                 "Hello, you're chatting with {agent} from {company}. What can I do for you?",
                 "Good morning! This is {agent} at {company} customer care.",
                 "Hi there, {agent} here. How can I help you today?",
                 "Welcome to {company} support, you're through to {agent}.",
                 "Hey! {agent} from the {company} team. What's up?",
                 "Thanks for waiting. I'm {agent}, how can I help?",
                 "Hello and welcome to {company}. {agent} speaking."])
GREET_CUSTOMER = H(["Hi, ", "Hello. ", "", "hey ", "Good morning. ", "Hi there. ", "", "Evening. "])
INTRO = H(["This is {full}. ", "My name is {full}. ", "I'm {full}. ", "{full} here. "])
FOLLOW_UP = H(["it's the {item}", "Can someone help me with this please", "this is really urgent",
               "Sorry, should have said, it's about my {item}.", "hello?", "is anyone there",
               "I've been waiting for a reply.", "the {item} one"])
ACK = H(["Sorry to hear that.", "I can help with that.", "Thanks for reaching out.", "Let's get that sorted.",
         "Oh no, I'm sorry about that.", "Of course.", "Thanks for explaining.", "I understand."])
ASK_REF = H(["Could you give me your {label}?", "What's the {label}, please?", "Can I have the {label}?",
             "Do you have your {label} handy?", "Could you confirm the {label} for me?",
             "Please share your {label} so I can look it up.", "What {label} is this about?",
             "May I have the {label}?"])
ASK_NAME = H(["And your name?", "Who am I speaking with?", "Can I get your full name as well?",
              "And the name on the account?"])
LOOKING = H(["hang on let me find it", "One sec, looking for it.", "ugh where is it", "just a moment"])
GIVE_REF = H(["It's {ref}.", "{ref}", "The {label} is {ref}.", "Sure, {ref}.", "{label} {ref}",
              "I think it's {ref}", "Yes, it's {ref}.", "ok it's {ref}"])
GIVE_NAME = H(["My name is {full}.", "{full}.", "It's {full}.", "Name's {full}."])
ITEM_NOTE = H(["It's about my {item}.", "This is for the {item}.", "the {item}", "It's for {a_item}."])
HOLD_AGENT = H(["Give me a moment while I look into this.", "Let me check that, one moment.",
                "Bear with me while I pull up the details.", "One second, checking now.",
                "Let me take a look.", "Thanks. Checking our system now.", "Just a minute please.",
                "Okay, looking into it."])
HOLD_CUSTOMER = H(["Sure.", "ok", "No problem.", "thanks", "Take your time.", "k", "Okay.", "sure thing"])
ANGER = H(["This is the third time I've contacted you about this.", "Honestly this is ridiculous.",
           "I'm really fed up with this.", "Why is this so difficult??", "I've wasted my whole morning on this.",
           "Your service has been terrible lately.", "I want this fixed TODAY.",
           "I'm this close to cancelling everything."])
CALM = H(["I completely understand, and I'm sorry.", "You're right, this shouldn't have happened.",
          "I hear you, let me do what I can.", "I'm sorry, I know it's frustrating."])
ASIDES = H([("Also, do you have an app?", "We do, just search for {company}.", "the app"),
            ("while I have you, can I change my email address?", "Yes, under Settings.", "changing their email address"),
            ("Oh and do you sell gift cards?", "We do, in any amount.", "gift cards"),
            ("Unrelated, but are you open on bank holidays?", "Yes, with shorter hours.", "holiday opening hours"),
            ("Can you also send me last month's invoice?", "Sure, it's on its way.", "last month's invoice"),
            ("By the way, is there a student discount?", "Yes, ten percent off with a student card.", "a student discount"),
            ("also my phone number changed", "No problem, you can update it in your profile.", "their phone number"),
            ("do you have a loyalty scheme?", "Yes, you earn points every time.", "the loyalty scheme")])
PUSHBACK = ["Hmm, is there anything else you can do?", "That doesn't really work for me.",
            "no, that's not good enough", "I'd prefer another option.", "Is that really the only option?"]
ACCEPT = ["That works, thank you.", "Perfect, thanks a lot.", "ok fine", "Great, I appreciate it.",
          "thanks, that helps", "Sounds good.", "Alright, thank you.", "ok thx"]
NOTHING_MORE = ["I'm afraid that's the best I can offer.", "Sorry, that's all I can do from here.",
                "Unfortunately there's nothing else I can offer."]
LEAVE = ["Forget it then.", "Then I'm done. Bye.", "useless. bye", "I'll take this somewhere else."]
REJECTED_DID = ["made an offer that the customer turned down, so nothing was agreed",
                "could not find a fix the customer would accept"]
ANYTHING_ELSE = H(["Is there anything else I can help with?", "Anything else today?", "Can I help with anything else?",
                   "Is there anything more I can do?"])
NO_MORE = H(["No, that's everything. Thanks!", "That's all, thank you.", "nope thats it", "No, I'm all set.",
             "That's it, cheers.", "no thanks", "All good, bye.", "Nothing else, thanks."])
CLOSE = H(["Have a great day, {first}!", "Thanks for your patience, {first}.", "You're welcome. Goodbye!",
           "Take care!"])
UNRESOLVED = {
    "escalated": [
        ("I can't fix this from here, so I've escalated it to our {team}. Your case number is {case}, and they'll "
         "call you within {days} days.", "ok. please make sure someone actually calls",
         "escalated it to the {team} under case {case}, with a call due within {days} days"),
        ("I'm raising this with my supervisor. Case {case}; you'll get an email within {days} days.",
         "Fine, I'll wait for the email.", "escalated it to a supervisor (case {case})"),
        ("This needs the {team}. I've opened case {case} for them.", "How long will that take?",
         "opened case {case} for the {team}"),
        ("I've passed this to the {team} as urgent, reference {case}.", "Thanks, I guess.",
         "passed it to the {team} as urgent (reference {case})")],
    "transferred": [
        ("I'm going to transfer you to the {team}, they can do this for you. Please hold.", "ok",
         "transferred {first} to the {team}"),
        ("That's handled by our {team}; let me put you through now.", "Sure, thanks.",
         "put {first} through to the {team}"),
        ("I'll transfer this chat to a colleague in the {team}.", "Again? fine.", "handed the chat to the {team}"),
        ("Only the {team} can change that. Transferring you now.", "ok thanks", "transferred the chat to the {team}")],
    "failed": [
        ("I'm sorry, our system is down and I can't make changes right now. Please try again tomorrow.",
         "Seriously? That's useless.", "could not help because the system was down"),
        ("Unfortunately that's outside our policy, so there's nothing I can do.",
         "Then I'll take my business elsewhere.", "said it was outside policy and could not help"),
        ("I can't see the details on my side, I'm afraid. Could you email us instead?", "I've already emailed twice!",
         "could not find the details and asked for an email instead"),
        ("I don't have access to fix that, sorry. Please call our phone line.", "unbelievable",
         "could not fix it and pointed to the phone line")],
}

# -- summary styles (shared by both parts) -------------------------------------------------------
SUMMARIES = [
    # customer first
    "{name} contacted {company} about {about}. The agent {did}.",
    "{name} told {company} that {issue}. {agent} {did}.",
    "{name} wrote in because {issue}. Support {did}.",
    "{name} complained that {issue}. In the end the agent {did}.",
    "{name} needed help: {issue}. The agent {did}.",
    "{name} got in touch about {about}, and {agent} {did}.",
    # one sentence, clause first
    "After {name} reported that {issue}, the agent {did}.",
    "Because {issue}, {name} contacted support; the agent {did}.",
    "When {name} explained that {issue}, {agent} {did}.",
    # outcome first
    "The agent {did} after {name} raised {about}.",
    "{agent} {did} for {name}, who had written in about {about}.",
    "Outcome: the agent {did}. {name} had contacted {company} about {about}.",
    "Resolution for {name}: {did}. Issue: {about}.",
    # problem first
    "{About} ({ref_label} {ref}): {name} asked for help, and the agent {did}.",
    "{About}, reported by {name}. The agent {did}.",
    "Problem: {issue}. {name}'s chat ended when the agent {did}.",
    "{About} was the reason {name} got in touch. The agent {did}.",
    # note style
    "Customer: {name}. Issue: {about}. Outcome: {did}.",
    "{name} ({ref_label} {ref}) - {about}; agent {did}.",
    "{Ref_label} {ref}, {name}: {about}. Agent {did}.",
    "Re {about} for {name}: {did}.",
    # passive and third person
    "A complaint about {about} was raised by {name} with {company}. The agent {did}.",
    "{name}'s problem, {about}, was handled by {agent}, who {did}.",
    "Support was contacted by {name} because {issue}. It ended with the agent saying they {did}.",
]
FALLBACK = {"about": "a problem with their {item}", "issue": "they had a problem with their {item}"}
EXTRAS = {"pushback": ["{first} turned down the first offer.", "The first offer was rejected.",
                       "{first} pushed back before agreeing."],
          "aside": ["{first} also asked about {aside}.", "They also discussed {aside}."],
          "angry": ["{first} was angry.", "The customer was clearly frustrated.",
                    "{first} complained about the service."],
          "unresolved": ["The issue was not resolved in the chat.", "It remained unresolved.",
                         "Nothing was fixed in the chat."],
          "rejected": ["{first} ended the chat without a fix.", "Nothing was agreed."]}
_SLOT = re.compile(r"\{(\w+)\}")
SENTENCE_END = re.compile(r"[.!?](?:\s+(?=[A-Z])|$)")
_SUBSTITUTIONS = {"you": "u", "please": "pls", "because": "bc", "thanks": "thx", "don't": "dont", "I'm": "im",
                  "can't": "cant", "it's": "its", "really": "rly", "about": "abt"}


def said(value: str, text: str) -> bool:
    """``value`` occurs in ``text`` as a whole (``December 1`` is not said by ``December 10``, nor ``9`` by ``9:30``)."""
    start = text.find(value)
    while start >= 0:
        before = text[start - 1] if start else " "
        after = text[start + len(value):start + len(value) + 2]
        if not (before.isalnum() or before in "_.$-") and not (after[:1].isalnum() or after[:1] in "_-"
                                                                   or (after[:1] == ":" and after[1:].isdigit())):
            return True
        start = text.find(value, start + 1)
    return False


def grounded(options: list[str], values: dict, text: str) -> list[str]:
    """Phrasings whose slot values all occur in the dialogue (maybe none): a summary states no fact the dialogue lacks."""
    def ok(option: str) -> bool:
        keys = {"item" if k == "a_item" else k.lower() for k in _SLOT.findall(option)}
        return all(said(str(values[k]), text) for k in keys if k in values)

    return [o for o in options if ok(o)]


def summary(rng: random.Random, scenario: dict, s: dict, who: dict, outcome: str, events: dict, text: str) -> str:
    """A summary of one of many styles; every value it states comes from the dialogue's slots."""
    about = rng.choice(grounded(scenario["about"], s, text) or [FALLBACK["about"]]).format(**s)
    if said(s["ref"], text) and rng.random() < 0.2 and s["ref"] not in about:
        about += f" ({s['ref_label']} {s['ref']})"
    values = dict(name=who["full"], first=who["first"], agent=who["agent"], company=s["company"], ref=s["ref"],
                  ref_label=s["ref_label"], Ref_label=sentence_case(s["ref_label"]), about=about,
                  About=sentence_case(about), issue=rng.choice(grounded(scenario["issue"], s, text) or [FALLBACK["issue"]]).format(**s),
                  did=outcome, aside=events.get("aside", ""))
    stated = dict(company=s["company"], agent=who["agent"], ref=s["ref"])
    parts = [rng.choice(grounded(SUMMARIES, stated, text)).format(**values)]
    room = 3 - len(SENTENCE_END.findall(parts[0]))  # at most three sentences in all
    for key in ("pushback", "rejected", "unresolved", "aside", "angry"):
        if key in events and rng.random() < 0.6 and room > 0:
            parts.append(rng.choice(EXTRAS[key]).format(**values))
            room -= 1
    return " ".join(parts)


# -- customers' writing styles -------------------------------------------------------------------
def _casual(rng: random.Random, text: str, protect: set[str]) -> str:
    first = text.split(" ", 1)[0]
    if rng.random() < 0.6 and not re.match(r"I\b|I'", text) and first.strip(".,!?") not in protect:
        text = text[:1].lower() + text[1:]
    if text.endswith(".") and rng.random() < 0.6:
        text = text[:-1]
    return text


def _typo(rng: random.Random, word: str) -> str:
    i = rng.randrange(1, len(word) - 1)
    kind = rng.randrange(3)
    if kind == 0:
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]  # swap two letters
    if kind == 1:
        return word[:i] + word[i + 1:]  # drop one
    return word[:i] + word[i] + word[i:]  # double one


def _typos(rng: random.Random, text: str, protect: set[str]) -> str:
    words = text.split(" ")
    for i, w in enumerate(words):
        core = w.strip(".,!?")
        if core in protect or not core.isalpha():
            if core in _SUBSTITUTIONS and rng.random() < 0.5:
                words[i] = w.replace(core, _SUBSTITUTIONS[core])
            continue
        if core in _SUBSTITUTIONS and rng.random() < 0.5:
            words[i] = w.replace(core, _SUBSTITUTIONS[core])
        elif len(core) >= 4 and rng.random() < 0.12:
            words[i] = w.replace(core, _typo(rng, core))
    return " ".join(words)


def _angry(rng: random.Random, text: str, protect: set[str]) -> str:
    if text.endswith((".", "?")) and rng.random() < 0.5:
        text = text[:-1] + rng.choice(["!!", "!", "?!"])
    words = text.split(" ")
    loud = [i for i, w in enumerate(words) if len(w) > 3 and w.isalpha() and w not in protect]
    if loud and rng.random() < 0.3:
        i = rng.choice(loud)
        words[i] = words[i].upper()
    return " ".join(words)


def styled(rng: random.Random, text: str, style: str, protect: set[str]) -> list[str]:
    """A customer's message in their style: one line, or several messages in a row for ``fragments``."""
    words = {w for v in protect for w in v.split()} | protect
    if style == "tidy":
        return [text]
    if style == "angry":
        return [_angry(rng, text, words)]
    if style == "fragments":
        pieces = [p for p in re.split(r"(?<=[.!?])\s+", text) if p]
        return [_casual(rng, p, words) for p in pieces]
    text = _casual(rng, text, words)
    return [_typos(rng, text, words) if style == "typos" else text]
