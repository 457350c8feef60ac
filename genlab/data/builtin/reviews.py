"""Product reviews with a 1-5 star rating, product title, headline and body.

Feeds the three template families of the course notes: rating classification,
review generation from rating + title, and headline summarisation. The body is
built from aspect sentences whose sentiment follows the rating, so the rating is
recoverable from the text (a 3-star review mixes praise and complaints).
``part="unseen"`` uses categories (so product nouns), brands and phrasings of
time that ``part="seen"`` never does.
"""

from __future__ import annotations

import random

from genlab.data.builtin._common import check_part, halves

BRANDS = ["Acme", "Nordic", "Zentra", "Bolt", "Hearth", "Lumina", "Vertex", "Kinto", "Orbit", "Pebble", "Sol",
          "Mistral", "Quill", "Tandem", "Verde", "Yarrow"]
CATEGORIES = {  # category: (product nouns, aspects a reviewer comments on)
    "headphones": (["headset", "pair of earbuds", "pair of headphones"],
                   ["the sound", "the battery life", "the comfort", "the noise cancelling"]),
    "kitchen": (["blender", "toaster", "electric kettle", "coffee grinder", "air fryer"],
                ["the motor", "the build quality", "the lid", "the noise level"]),
    "books": (["novel", "cookbook", "travel guide", "picture book"],
              ["the writing", "the story", "the photos", "the paper quality"]),
    "outdoor": (["camping tent", "hiking backpack", "sleeping bag", "water bottle"],
                ["the fabric", "the weight", "the waterproofing", "the zips"]),
    "home": (["desk lamp", "throw blanket", "office chair", "wall clock", "humidifier"],
             ["the design", "the cushioning", "the brightness", "the assembly"]),
    "phone": (["phone case", "charging cable", "power bank", "screen protector"],
              ["the fit", "the charging speed", "the grip", "the battery"]),
    "toys": (["building set", "puzzle", "remote control car", "plush bear"],
             ["the pieces", "the instructions", "the colours", "how long it kept the kids busy"]),
    "garden": (["garden hose", "pair of pruning shears", "bird feeder", "solar lantern"],
               ["the handle", "the durability", "the finish", "the size"]),
}
GOOD = ["I love {aspect}.", "{Aspect} is excellent.", "{Aspect} is better than I expected.",
        "Really impressed with {aspect}.", "{Aspect} is spot on."]
OK = ["{Aspect} is fine, nothing special.", "{Aspect} is okay for the price.", "{Aspect} could be better.",
      "{Aspect} is average."]
BAD = ["{Aspect} is terrible.", "{Aspect} is a real letdown.", "I'm disappointed with {aspect}.",
       "{Aspect} started falling apart after a week.", "{Aspect} is much worse than advertised."]
OPENING = {
    5: ["Bought this {noun} {when} and it's fantastic.", "Best {noun} I've owned.", "Absolutely love this {noun}."],
    4: ["Very good {noun} overall.", "Happy with this {noun} after {when}.", "Solid {noun}, a few small niggles."],
    3: ["It's an okay {noun}.", "Mixed feelings about this {noun}.", "Decent {noun}, but not great."],
    2: ["Not impressed with this {noun}.", "Expected more from this {noun}.", "This {noun} has some real problems."],
    1: ["Do not buy this {noun}.", "Worst {noun} I've ever bought.", "This {noun} broke {when}."],
}
CLOSING = {
    5: ["Would definitely recommend.", "Worth every penny.", "Buying another as a gift."],
    4: ["I'd recommend it.", "Good value for money.", "Would buy again."],
    3: ["It does the job, I suppose.", "Fine if it's on sale.", "Wouldn't rush to buy it again."],
    2: ["I'm thinking of returning it.", "Not worth the money.", "Look elsewhere."],
    1: ["Returned it for a refund.", "Complete waste of money.", "Avoid."],
}
HEADLINES = {
    5: ["Excellent {noun}", "Love it!", "Perfect, highly recommend", "Five stars", "Great {noun}, great price"],
    4: ["Very good, minor issues", "Solid choice", "Pretty good {noun}", "Happy with it"],
    3: ["Okay but not great", "Average {noun}", "Does the job", "Mixed feelings"],
    2: ["Disappointing", "Not as advertised", "Expected better", "Meh {noun}"],
    1: ["Terrible {noun}", "Waste of money", "Broke after a week", "Avoid this one"],
}
WHEN = ["last month", "two weeks ago", "in the spring", "for my birthday", "a few days ago", "within a week",
        "on sale", "in January"]
PARTS = {"categories": halves(CATEGORIES), "brands": halves(BRANDS), "when": halves(WHEN)}


def _aspect_sentence(rng: random.Random, rating: int, aspect: str, used: set[str]) -> str:
    """One sentence on one aspect, its sentiment drawn to match the rating; no phrasing twice."""
    pools = {5: [GOOD], 4: [GOOD, GOOD, OK], 3: [GOOD, OK, BAD], 2: [OK, BAD, BAD], 1: [BAD]}[rating]
    options = [p for p in rng.choice(pools) if p not in used]
    pattern = rng.choice(options)
    used.add(pattern)
    return pattern.format(aspect=aspect, Aspect=aspect[:1].upper() + aspect[1:])


def review(rng: random.Random, part: str = "seen") -> dict:
    category = rng.choice(PARTS["categories"][part])
    nouns, aspects = CATEGORIES[category]
    noun = rng.choice(nouns)
    label = noun.removeprefix("pair of ").title()
    title = f"{rng.choice(PARTS['brands'][part])} {rng.choice(['', 'Pro ', 'Lite ', 'Max ', 'Classic '])}{label} " \
            f"{rng.choice(['', 'X', 'S', '2', '300', '5000', 'Mini'])}".replace("  ", " ").strip()
    rating = rng.choices([1, 2, 3, 4, 5], weights=[1, 1, 1.2, 1.6, 2])[0]
    slots = dict(noun=noun, when=rng.choice(PARTS["when"][part]))
    parts = [rng.choice(OPENING[rating]).format(**slots)]
    used: set[str] = set()
    parts += [_aspect_sentence(rng, rating, a, used) for a in rng.sample(aspects, k=rng.randint(1, 3))]
    if rng.random() < 0.8:
        parts.append(rng.choice(CLOSING[rating]))
    return dict(product_title=title, star_rating=rating, category=category,
                review_headline=rng.choice(HEADLINES[rating]).format(**slots),
                review_body=" ".join(parts))


def generate_reviews(n: int, seed: int = 0, part: str = "seen") -> list[dict]:
    """``n`` reviews, deterministic given ``seed`` and ``part``."""
    prefix = "review" if check_part(part) == "seen" else "review-unseen"
    rng_key = "reviews" if part == "seen" else "reviews-unseen"
    return [dict(id=f"{prefix}-{seed}-{i}", **review(random.Random(f"{rng_key}:{seed}:{i}"), part)) for i in range(n)]
