"""Input perturbations for robustness and fairness (HELM, Liang et al. 2022, section 4.5-4.6).

A perturbation rewrites an instance's *input* text and never its reference. It is

* deterministic per ``(perturbation, seed, instance key)``: the same run perturbs the
  same way, and instance ``i``'s perturbation does not depend on the other instances;
* meaning-preserving: a reader gives the perturbed input the same answer. Words that
  the reference quotes (``protect``) are left intact, so the reference stays the right
  answer (a name the summary repeats is not swapped for another name).

Robustness (invariance): ``lowercase``, ``contraction``, ``expansion``, ``misspelling``
(common misspellings, prob 0.2 per listed word), ``typos`` (a QWERTY neighbour key, prob
0.05 per letter: HELM's butter-finger ``TyposPerturbation``), ``whitespace`` (each space
becomes 1-3 spaces: HELM's ``SpacePerturbation(max_spaces=3)``).

Fairness: ``dialect`` (SAE -> AAE word substitutions, Ziems et al. 2022), ``gender``
(male -> female pronouns and terms, Bolukbasi et al. 2016), ``names`` (first names of other
groups -> African American first names, Caliskan et al. 2017; one consistent mapping per
instance). Word lists live in ``genlab/holistic/wordlists/`` with their sources.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Callable

import yaml

WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")
Rewrite = Callable[[str, random.Random, frozenset], str]


# -- word lists -----------------------------------------------------------------------
def _lines(name: str) -> list[list[str]]:
    text = resources.files("genlab.holistic.wordlists").joinpath(name).read_text(encoding="utf-8")
    return [line.split("\t") for line in text.splitlines() if line.strip() and not line.startswith("#")]


def wordlist_yaml(name: str) -> dict:
    return yaml.safe_load(resources.files("genlab.holistic.wordlists").joinpath(name).read_text(encoding="utf-8"))


@lru_cache(maxsize=None)
def pairs(name: str) -> dict[str, str]:
    """``a<TAB>b`` lines as {a (lowercase): b}; the first line for a key wins."""
    out: dict[str, str] = {}
    for a, b in _lines(name):
        out.setdefault(a.lower(), b)
    return out


@lru_cache(maxsize=None)
def misspellings() -> dict[str, list[str]]:
    return {a.lower(): b.split(",") for a, b in _lines("misspellings.txt")}


@lru_cache(maxsize=None)
def first_names_by_gender() -> dict[str, dict[str, list[str]]]:
    """{group: {"male": names, "female": names}}."""
    return {group: {g: list(ns) for g, ns in by.items()} for group, by in wordlist_yaml("first_names.yaml").items()}


@lru_cache(maxsize=None)
def first_names() -> dict[str, list[str]]:
    """{group: all its names}."""
    return {group: by["male"] + by["female"] for group, by in first_names_by_gender().items()}


# Function words stay perturbable even when the reference has them: protecting "it", "not" or
# "his" would switch contractions and pronoun swaps off for any instance with a long reference.
FUNCTION_WORDS = frozenset(
    "a an the and or but to of in on at by for from with as is are was were be been am do does did not no "
    "it its this that i you we they he she his her him them their our your my me us will would can could "
    "have has had there here what which who".split())


def protected_words(*texts: str) -> frozenset:
    """Lowercased content words of ``texts`` (the references): perturbations leave these alone."""
    words = {w.lower() for t in texts for w in WORD.findall(str(t or ""))}
    words |= {part for w in words for part in w.split("'") if part}  # "adam's" -> "adam" too
    return frozenset(words - FUNCTION_WORDS)


# -- helpers ---------------------------------------------------------------------------
def match_case(source: str, word: str) -> str:
    """``word`` with the capitalization of ``source`` (ALL CAPS, Capitalized or as given)."""
    if source.isupper() and len(source) > 1:
        return word.upper()
    if source[:1].isupper():
        return word[:1].upper() + word[1:]
    return word


def replace_words(text: str, protect: frozenset, fn: Callable[[str], str | None]) -> str:
    """Apply ``fn`` to every word not in ``protect``; ``None`` keeps the word."""
    def repl(m: re.Match) -> str:
        word = m.group(0)
        if word.lower() in protect:
            return word
        new = fn(word)
        return word if new is None else new
    return WORD.sub(repl, text)


def replace_phrases(text: str, table: dict[str, str], protect: frozenset, rng: random.Random,
                    prob: float = 1.0, before_word: bool = False) -> str:
    """Replace whole-word phrases (case-insensitive, longest first) by ``table[phrase]``.

    ``before_word``: only where another word follows ("it is late", not "yes, it is.").
    """
    if not table:
        return text
    keys = sorted(table, key=len, reverse=True)
    follow = r"(?=\s+[A-Za-z0-9$])" if before_word else r"(?![\w'])"
    pattern = re.compile(r"(?<![\w'])(" + "|".join(re.escape(k) for k in keys) + r")" + follow, re.I)

    def repl(m: re.Match) -> str:
        found = m.group(0)
        if any(w.lower() in protect for w in WORD.findall(found)) or rng.random() >= prob:
            return found
        return match_case(found, table[found.lower()])
    return pattern.sub(repl, text)


# -- robustness ---------------------------------------------------------------------------
def lowercase(text: str, rng: random.Random, protect: frozenset) -> str:
    return replace_words(text.lower() if not protect else text, protect, str.lower)


def contraction(text: str, rng: random.Random, protect: frozenset) -> str:
    """"do not" -> "don't" where a word follows ("yes, it is." stays); "have" as a main verb
    ("may I have your name") cannot contract, so "X have" is only ever expanded, never contracted."""
    table = {k: v for k, v in pairs("contractions.txt").items() if not k.endswith(" have")}
    return replace_phrases(text, table, protect, rng, before_word=True)


def expansion(text: str, rng: random.Random, protect: frozenset) -> str:
    """"don't" -> "do not" (the first listed expansion of each contraction)."""
    table: dict[str, str] = {}
    for full, short in _lines("contractions.txt"):
        table.setdefault(short.lower(), full)
    return replace_phrases(text, table, protect, rng)


def misspelling(text: str, rng: random.Random, protect: frozenset, prob: float = 0.2) -> str:
    table = misspellings()

    def swap(word: str) -> str | None:
        options = table.get(word.lower())
        if not options or rng.random() >= prob:
            return None
        return match_case(word, rng.choice(options))
    return replace_words(text, protect, swap)


KEYBOARD = {  # QWERTY neighbours (NL-Augmenter butter_fingers_perturbation, used by HELM)
    "q": "was", "w": "qesad", "e": "wsdfr", "r": "edfgt", "t": "rfghy", "y": "tghju", "u": "yhjki",
    "i": "ujklo", "o": "iklp", "p": "ol", "a": "qwszx", "s": "qweadzx", "d": "wersfxc", "f": "ertdgcv",
    "g": "rtyfhvb", "h": "tyugjbn", "j": "yuihknm", "k": "uiojlm", "l": "iopk", "z": "asx",
    "x": "zsdc", "c": "xdfv", "v": "cfgb", "b": "vghn", "n": "bhjm", "m": "njk",
}


def typos(text: str, rng: random.Random, protect: frozenset, prob: float = 0.05) -> str:
    def hit(word: str) -> str | None:
        out = []
        for ch in word:
            near = KEYBOARD.get(ch.lower())
            out.append(match_case(ch, rng.choice(near)) if near and rng.random() < prob else ch)
        return "".join(out)
    return replace_words(text, protect, hit)


def whitespace(text: str, rng: random.Random, protect: frozenset, max_spaces: int = 3) -> str:
    return re.sub(" ", lambda m: " " * rng.randint(1, max_spaces), text)


# -- fairness ----------------------------------------------------------------------------
def dialect(text: str, rng: random.Random, protect: frozenset) -> str:
    """SAE -> AAE lexical substitutions (Ziems et al. 2022), every listed word."""
    return replace_phrases(text, pairs("sae_to_aae.txt"), protect, rng)


def gender(text: str, rng: random.Random, protect: frozenset) -> str:
    """Male -> female pronouns and terms (Bolukbasi et al. 2016 pairs), every occurrence."""
    return replace_phrases(text, pairs("gender.txt"), protect, rng)


def names(text: str, rng: random.Random, protect: frozenset, target: str = "black_american") -> str:
    """First names of the other groups -> names of ``target`` of the same gender; one name maps to
    one name within an instance."""
    groups = first_names_by_gender()
    pools = {g: rng.sample(ns, len(ns)) for g, ns in groups[target].items()}
    gender_of = {n.lower(): g for group, by in groups.items() if group != target for g, ns in by.items() for n in ns}
    mapping: dict[str, str] = {}

    def swap(word: str) -> str | None:
        key = word.lower()
        if key not in gender_of or not word[:1].isupper():
            return None
        if key not in mapping:
            pool = pools[gender_of[key]]
            mapping[key] = pool[sum(gender_of[k] == gender_of[key] for k in mapping) % len(pool)]
        return match_case(word, mapping[key])
    return replace_words(text, protect, swap)


# -- registry ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Perturbation:
    name: str
    family: str  # "robustness" or "fairness"
    rewrite: Rewrite
    description: str

    def apply(self, text: str, *, seed: int = 0, key: object = "", protect: frozenset = frozenset()) -> str:
        """``text`` perturbed; the RNG depends only on (name, seed, key)."""
        return self.rewrite(text, random.Random(f"perturb:{self.name}:{seed}:{key}"), protect)


PERTURBATIONS: dict[str, Perturbation] = {p.name: p for p in [
    Perturbation("lowercase", "robustness", lowercase, "all text lowercased"),
    Perturbation("contraction", "robustness", contraction, "do not -> don't"),
    Perturbation("expansion", "robustness", expansion, "don't -> do not"),
    Perturbation("misspelling", "robustness", misspelling, "common misspellings, p=0.2 per listed word"),
    Perturbation("typos", "robustness", typos, "QWERTY-neighbour typos, p=0.05 per letter"),
    Perturbation("whitespace", "robustness", whitespace, "each space -> 1-3 spaces"),
    Perturbation("dialect", "fairness", dialect, "SAE -> AAE word substitutions (Ziems et al. 2022)"),
    Perturbation("gender", "fairness", gender, "male -> female pronouns and terms (Bolukbasi et al. 2016)"),
    Perturbation("names", "fairness", names, "first names -> African American first names (Caliskan et al. 2017)"),
]}
FAMILIES = ("robustness", "fairness")


def get_perturbations(names_: list[str] | None = None) -> list[Perturbation]:
    """Perturbations by name (all when ``None``); unknown names raise with the known ones."""
    from genlab.errors import ConfigError

    if names_ is None:
        return list(PERTURBATIONS.values())
    unknown = [n for n in names_ if n not in PERTURBATIONS]
    if unknown:
        raise ConfigError(f"unknown perturbation(s) {', '.join(unknown)}",
                          hint=f"known: {', '.join(PERTURBATIONS)}")
    return [PERTURBATIONS[n] for n in names_]


def perturb_row(row: dict, fields: list[str], p: Perturbation, *, seed: int, key: object,
                protect: frozenset) -> dict:
    """A copy of ``row`` with the string ``fields`` perturbed; every other field is kept as is."""
    out = dict(row)
    for f in fields:
        if isinstance(row.get(f), str):
            out[f] = p.apply(row[f], seed=seed, key=f"{key}:{f}", protect=protect)
    return out


__all__ = ["FAMILIES", "PERTURBATIONS", "Perturbation", "get_perturbations", "perturb_row", "protected_words"]
