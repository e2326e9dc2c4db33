"""Filler that no training corpus contains: a grammar of its own, for probes only.

The memory corpus's filler comes from its own grammar (``memory``). A probe whose filler were drawn from
that grammar, even as held-out combinations, could be passed by a model that learned the grammar by heart
and keeps the cue only across sentences it recognises. This filler shares nothing with it but the
characters and a few function words ("the", "a", "of", ...): other sentence structures (numbers, questions
without a question mark, present tense, lists, subordinate clauses) and other content words, none of which
any generated training corpus contains (``tests/test_memory_corpus.py`` checks it). Like the training filler
it never names a country, a language, a person or a gendered pronoun, so it carries nothing about the
answer.
"""

from __future__ import annotations

import random

from charlstm.corpora.filler import whole_sentences

NUMBERS = ("Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine", "Twelve", "Forty")
ADJECTIVES = ("crimson", "dusty", "shiny", "enormous", "wobbly", "frozen", "velvet", "crooked", "hollow",
              "rusty", "striped", "fragile", "ancient", "purple", "sleepy", "curious", "damp", "polished",
              "lopsided", "silver")
NOUNS = ("kettle", "violin", "ladder", "pebble", "blanket", "lantern", "tractor", "parcel", "chimney",
         "saucer", "hammock", "compass", "pumpkin", "cactus", "tunnel", "balcony", "quilt", "carousel",
         "mailbox", "windmill", "marble", "puddle", "ribbon", "trumpet", "helmet", "jar", "spoon", "kite",
         "feather", "barrel")
IRREGULAR_PLURALS = {"balcony": "balconies", "cactus": "cacti"}
PLURALS = tuple(IRREGULAR_PLURALS.get(n) or n + ("es" if n.endswith(("ch", "sh", "x", "s")) else "s") for n in NOUNS)
PAST_VERBS = ("rattled", "wobbled", "sparkled", "drifted", "tumbled", "creaked", "glowed",
              "vanished", "squeaked", "rolled", "flickered", "swayed", "dripped", "whistled", "melted",
              "shivered", "bounced")
PRESENT_VERBS = ("hums", "leans", "glitters", "rusts", "wobbles", "spins", "tilts", "squeaks", "sags",
                 "gleams")
ADVERBS = ("suddenly", "gently", "loudly", "thrice", "oddly", "softly", "lazily enough", "yet again")
PLACES = ("behind the barn", "across the meadow", "inside the attic", "beside the canal", "under a pine",
          "on top of the cupboard", "below the stairs", "outside the greenhouse", "along the fence",
          "past the orchard")
TIMES = ("at midnight", "by teatime", "since Tuesday", "all through April", "at sunrise", "every Thursday",
         "before supper")


def _a(word: str) -> str:
    return ("an " if word[0] in "aeiou" else "a ") + word


def _templates(rng: random.Random) -> list[str]:
    c = rng.choice
    return [
        f"{c(NUMBERS)} {c(ADJECTIVES)} {c(PLURALS)} {c(PAST_VERBS)} {c(PLACES)}.",
        f"Nobody knew why the {c(NOUNS)} {c(PAST_VERBS)} so {c(ADVERBS)}.",
        f"There was {_a(c(ADJECTIVES))} {c(NOUNS)} {c(PLACES)} and it {c(PAST_VERBS)}.",
        f"Somebody left {_a(c(ADJECTIVES))} {c(NOUNS)} {c(PLACES)} {c(TIMES)}.",
        f"The lid of the {c(NOUNS)} was {c(ADJECTIVES)} and {c(ADJECTIVES)}.",
        f"Each {c(NOUNS)} {c(PRESENT_VERBS)} {c(ADVERBS)} {c(TIMES)}.",
        f"If the {c(NOUNS)} {c(PRESENT_VERBS)} then the {c(NOUNS)} {c(PRESENT_VERBS)} too.",
        f"What {_a(c(ADJECTIVES))} {c(NOUNS)} that was.",
        f"A {c(NOUNS)} and {_a(c(NOUNS))} {c(PAST_VERBS)} together {c(TIMES)}.",
        f"Look at the {c(ADJECTIVES)} {c(PLURALS)}.",
    ]


def unseen_sentence(rng: random.Random) -> str:
    return rng.choice(_templates(rng))


SHORT = ("Look.", "So it goes.", "Odd.", "Hush now.", "Not again.", "Fine then.")


def unseen_filler(rng: random.Random, chars: int) -> str:
    """Whole sentences of this grammar totalling about ``chars`` characters ("" for 0)."""
    return whole_sentences(rng, chars, unseen_sentence, SHORT)


def content_words() -> set[str]:
    """Every word this grammar can use that is not a function word shared with ordinary English."""
    words = set()
    for group in (NUMBERS, ADJECTIVES, NOUNS, PLURALS, PAST_VERBS, PRESENT_VERBS, ADVERBS, PLACES, TIMES, SHORT):
        for phrase in group:
            words.update(w.strip(".").lower() for w in phrase.split())
    return words - FUNCTION_WORDS


FUNCTION_WORDS = {"the", "a", "an", "of", "and", "it", "so", "then", "too", "if", "at", "by", "on", "in",
                  "all", "was", "that", "what", "there", "every", "each", "before", "under", "along",
                  "past", "top", "below", "outside", "inside", "behind", "across", "beside", "through",
                  "since", "now", "not", "again", "yet", "enough", "look", "fine", "nobody", "somebody",
                  "knew", "why", "together", "left"}
