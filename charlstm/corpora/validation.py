"""Filler for choosing checkpoints: a third grammar, disjoint from the training corpus and from the probes'.

Training watches memory at every evaluation (``charlstm.probes.watch``) and the memory recipe keeps the
checkpoint whose memory is best. Watching with the training filler would reward a model that keeps the
cue only across sentences it knows; watching with the probes' unseen filler (``charlstm.corpora.unseen``)
would choose checkpoints on the very text the final figures are measured on. So the watch has filler of
its own: other content words and other sentence openings (imperatives, "According to", "Perhaps",
"Between", "Neither", future and modal verbs) than both grammars, which ``tests/test_memory_corpus.py``
checks. Like the others it never names a country, a language, a person or a gendered pronoun.
"""

from __future__ import annotations

import random

from charlstm.corpora.filler import whole_sentences

ADJECTIVES = ("turquoise", "brittle", "gigantic", "muddy", "glossy", "slanted", "woollen", "spotted",
              "bumpy", "tangled", "greasy", "speckled", "plump", "narrowest", "feathery", "scorched",
              "mossy", "tiny", "jagged", "sticky")
NOUNS = ("wheelbarrow", "anchor", "saddle", "bucket", "teapot", "scarecrow", "toolkit", "lampshade",
         "haystack", "birdcage", "doormat", "bathtub", "crate", "paintbrush", "fishbowl", "drum", "pillow",
         "rope", "skateboard", "telescope", "birdhouse", "snowman", "fountain", "envelope", "wagon",
         "hourglass", "beehive", "cushion", "spade", "sandcastle")
PLURALS = tuple(n + ("es" if n.endswith(("sh", "ch", "x", "s")) else "s") for n in NOUNS)
BASE_VERBS = ("scrub", "inspect", "repaint", "fold", "measure", "dust", "label", "weigh", "unpack", "mend")
FUTURE_VERBS = ("topple", "wobble over", "rust away", "sink", "drift off", "crack", "shrink", "float",
                "squeak", "gleam")
PRESENT_VERBS = ("bobs", "dangles", "clatters", "tips over", "sinks", "floats", "rocks", "flaps")
PLACES = ("beyond the hedge", "near the pond", "inside the shed", "atop the haystack", "beneath the porch",
          "around the gazebo", "upon the roof", "within the cellar")
WHEN = ("tomorrow", "come winter", "by dusk", "within an hour", "after sunset", "any minute now")
MANNERS = ("carefully", "thoroughly", "gingerly", "quickly", "with great care", "without fuss")


def _a(word: str) -> str:
    return ("an " if word[0] in "aeiou" else "a ") + word


def _templates(rng: random.Random) -> list[str]:
    c = rng.choice
    return [
        f"Please {c(BASE_VERBS)} the {c(ADJECTIVES)} {c(NOUNS)} {c(MANNERS)}.",
        f"According to the {c(NOUNS)} the {c(NOUNS)} is {c(ADJECTIVES)}.",
        f"Perhaps the {c(NOUNS)} will {c(FUTURE_VERBS)} {c(WHEN)}.",
        f"Between the {c(PLURALS)} lies {_a(c(ADJECTIVES))} {c(NOUNS)}.",
        f"Neither the {c(NOUNS)} nor the {c(NOUNS)} {c(PRESENT_VERBS)}.",
        f"How {c(ADJECTIVES)} the {c(NOUNS)} seems {c(PLACES)}.",
        f"Several {c(ADJECTIVES)} {c(PLURALS)} stand {c(PLACES)}.",
        f"Surely {_a(c(NOUNS))} {c(PRESENT_VERBS)} {c(PLACES)}.",
        f"Never {c(BASE_VERBS)} the {c(NOUNS)} {c(MANNERS)}.",
        f"Just one {c(ADJECTIVES)} {c(NOUNS)} {c(PRESENT_VERBS)} {c(WHEN)}.",
    ]


def validation_sentence(rng: random.Random) -> str:
    return rng.choice(_templates(rng))


SHORT = ("Agreed.", "Certainly.", "Hmm.", "Right away.", "No matter.", "Carry on.")


def validation_filler(rng: random.Random, chars: int) -> str:
    """Whole sentences of this grammar totalling about ``chars`` characters ("" for 0)."""
    return whole_sentences(rng, chars, validation_sentence, SHORT)


FUNCTION_WORDS = {"the", "a", "an", "of", "and", "is", "to", "will", "how", "several", "just", "one", "please",
                  "perhaps", "between", "neither", "nor", "according", "lies", "seems", "stand", "surely",
                  "never", "no", "beyond", "near", "inside", "atop", "beneath", "around",
                  "upon", "within", "by", "after", "any", "now", "come", "with", "without", "over", "off",
                  "away", "right", "carry", "on"}


def content_words() -> set[str]:
    """Every word this grammar can use that is not a function word: none of them may occur in a training
    corpus or in the probes' unseen grammar."""
    words = set()
    for group in (ADJECTIVES, NOUNS, PLURALS, BASE_VERBS, FUTURE_VERBS, PRESENT_VERBS, PLACES, WHEN, MANNERS,
                  SHORT):
        for phrase in group:
            words.update(w.strip(".").lower() for w in phrase.split())
    return words - FUNCTION_WORDS
