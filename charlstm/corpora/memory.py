"""The built-in ``memory`` corpus: English-like text built to exercise long-range memory.

After the examples in Olah's "Understanding LSTM Networks":

* country -> language: "I grew up in France. <filler> I speak fluent French." The language is only
  predictable from a cue that may lie hundreds of characters back.
* subject -> pronoun, with a change of subject that must overwrite the memory (the forget gate's job):
  "Maria is a doctor. <filler> She ... Then Paul arrived. <filler> He ..."
* filler: neutral sentences that never mention a country, a language, a gendered name or a gendered
  pronoun, so they carry no information about the answer: from a small grammar, as a fixed pool of its
  sentences or all of it, and pseudo-words (``FillerMix``).

The generator is deterministic for a seed. Probes (``charlstm.probes``) draw "fresh" filler the way a
corpus did with a seed never used for training, and "unseen" filler from a grammar of their own
(``charlstm.corpora.unseen``) whose words and sentence structures no generated corpus contains.
"""

from __future__ import annotations

import functools
import math
import random
from dataclasses import dataclass

# Bump when the output for a given (size, seed) changes, so cached encodings are rebuilt.
GENERATOR_VERSION = "memory-7"
DEFAULT_SIZE = 1_000_000
TRAINING_SEED = 1
# Probes draw filler from this seed; training never uses it.
PROBE_SEED = 987_654_321
# The fixed pool of filler sentences (option ``pool``) is drawn with this seed, whatever the corpus seed.
POOL_SEED = 4242

COUNTRIES: tuple[tuple[str, str], ...] = (
    ("France", "French"), ("Germany", "German"), ("Spain", "Spanish"), ("Italy", "Italian"),
    ("Portugal", "Portuguese"), ("Japan", "Japanese"), ("China", "Chinese"), ("Russia", "Russian"),
    ("Greece", "Greek"), ("Turkey", "Turkish"), ("Poland", "Polish"), ("Sweden", "Swedish"),
    ("Finland", "Finnish"), ("Hungary", "Hungarian"),
)
FEMALE_NAMES = ("Maria", "Anna", "Sofia", "Laura", "Emma", "Clara", "Julia", "Nina", "Alice", "Rosa")
MALE_NAMES = ("Paul", "David", "Peter", "Lucas", "Tom", "Victor", "Oscar", "Daniel", "Hugo", "Simon")
JOBS = ("doctor", "teacher", "pilot", "baker", "painter", "lawyer", "farmer", "nurse", "writer",
        "chemist", "gardener", "tailor", "carpenter", "journalist", "dentist", "librarian")

# A probe context starts with this: a familiar line, so the cue begins a line after ordinary text, as
# in training (streams rarely start from a zero state there, so probes should not either).
STORY_START = "Nothing much happened.\n"
CUE_TEMPLATE = "I grew up in {country}."
LANGUAGE_QUERY = "I speak fluent "
SUBJECT_TEMPLATE = "{name} is a {job}."
SWITCH_TEMPLATE = "Then {name} arrived."
PRONOUNS = ("She", "He")
PRONOUN_ACTIONS = (
    "smiled at everyone", "opened the window", "asked for a glass of water", "laughed quietly",
    "sat down near the door", "read the letter twice", "took a long walk", "looked tired but happy",
    "wrote a short note", "waited for the rain to stop", "closed the book", "made a pot of tea",
    "listened to the radio", "fixed the old lamp", "counted the coins", "forgot the umbrella",
)

_SUBJECTS = (
    "The old bridge", "The morning train", "A small dog", "The bakery on the corner", "The river",
    "The garden", "The library", "A cold wind", "The market", "The museum", "The last bus",
    "A quiet street", "The harbour", "The kitchen clock", "The city council", "The mountain road",
    "The school choir", "A heavy rain", "The little cafe", "The orchestra", "The new hospital",
    "The town square", "The football team", "The night sky", "The wooden boat", "The village fair",
    "The long corridor", "A grey cat", "The bookshop", "The lighthouse", "The factory", "The park",
    "The jazz band",
)
_PREDICATES = (
    "was painted again", "closed early", "stayed quiet", "looked brighter than usual", "filled with people",
    "needed repairs", "opened at noon", "moved slowly", "was crowded", "smelled of fresh bread",
    "made a strange noise", "seemed smaller", "grew very fast", "was covered in snow", "became popular",
    "fell silent", "stood empty", "turned golden", "drew a large crowd", "changed its schedule",
    "was cleaned", "shone in the sun", "felt colder", "was moved to a new place", "kept everyone awake",
)
_COMPLEMENTS = (
    "", "", "", "last spring", "after the storm", "in the afternoon", "during the festival", "every Sunday",
    "before dawn", "near the station", "for a whole week", "by the end of the summer", "on most evenings",
    "after lunch", "at the weekend", "in the old town", "without any warning", "once again",
)
_TINY_SENTENCES = (
    "Yes.", "Well.", "Indeed.", "Quite so.", "Snow fell.", "Rain fell.", "Birds sang.", "Bells rang.",
    "Night fell.", "Time passed.", "All was calm.", "Days went by.", "Clouds came.", "Wind blew.",
    "Dogs barked.", "Nothing moved.", "Leaves fell.", "Frost came.",
)
_SHORT_SENTENCES = (
    "It rained all day.", "Nothing much happened.", "The days grew longer.", "It was a calm evening.",
    "Everyone was busy.", "The tea was too hot.", "Time passed slowly.", "It snowed in the night.",
    "The streets were empty.", "Nobody said a word.", "The lights went out.", "It was very late.",
)


# Pseudo-words ("noise" filler) are drawn letter by letter with English letter frequencies: nothing in
# them can be predicted or recognised. (Pronounceable pseudo-words, "brolant" or "shoomick", were tried:
# memory generalised worse to new text; see benchmarks/memory_recipes.md.)
_LETTERS = "etaoinshrdlcumwfgypbvkjxqz"
_LETTER_WEIGHTS = (12.7, 9.1, 8.2, 7.5, 7.0, 6.7, 6.3, 6.1, 6.0, 4.3, 4.0, 2.8, 2.8, 2.4, 2.4, 2.2, 2.0, 2.0, 1.9,
                   1.5, 1.0, 0.8, 0.2, 0.2, 0.1, 0.1)


@functools.lru_cache(maxsize=1)
def _not_pseudo_words() -> frozenset[str]:
    """Words a pseudo-word must never be: the cues, names and pronouns (filler carries nothing about an
    answer), the probes' unseen words and the watch's validation words (so they stay unseen)."""
    from charlstm.corpora import unseen, validation

    names = {w.lower() for pair in COUNTRIES for w in pair} | {n.lower() for n in FEMALE_NAMES + MALE_NAMES}
    return frozenset(names | {"i", "he", "she", "him", "her", "his", "hers"} | unseen.content_words()
                     | validation.content_words())


def pseudo_word(rng: random.Random) -> str:
    while True:
        length = min(9, 1 + int(rng.expovariate(1 / 4.5)))
        word = "".join(rng.choices(_LETTERS, _LETTER_WEIGHTS, k=length))
        if word not in _not_pseudo_words():
            return word


def noise_sentence(rng: random.Random) -> str:
    """2 to 7 pseudo-words, capitalised and ended like a sentence: text no model can predict or recognise,
    so a memory that survives it cannot depend on knowing what the filler says."""
    words = [pseudo_word(rng) for _ in range(rng.randint(2, 7))]
    return " ".join(words).capitalize() + "."


@dataclass(frozen=True)
class FillerMix:
    """Where filler sentences come from.

    A fixed pool of ``pool`` grammar sentences is learned by heart quickly, which leaves the model's
    capacity for the cue; the whole grammar (share ``variety``) and pseudo-word sentences (share ``noise``)
    make the filler something a memory cannot rely on recognising. With ``pool`` = 0 every sentence that is
    not noise comes from the whole grammar.
    """

    pool: int = 0
    variety: float = 0.0
    noise: float = 0.0

    def sentence(self, rng: random.Random) -> str:
        u = rng.random()
        if u < self.noise:
            return noise_sentence(rng)
        if self.pool and u >= self.noise + self.variety:
            return rng.choice(sentence_pool(self.pool))
        return grammar_sentence(rng)

    def of_length(self, rng: random.Random, chars: int) -> str:
        """Whole sentences totalling about ``chars`` characters ("" for 0); short ones near the end, so
        small gaps stay small."""
        parts: list[str] = []
        total = 0  # length of " ".join(parts)
        while total < chars:
            remaining = chars - total - (1 if parts else 0)
            parts.append(self.sentence(rng) if remaining >= 24 else tiny_sentence(rng, remaining))
            total += len(parts[-1]) + (1 if len(parts) > 1 else 0)
        return " ".join(parts)


@dataclass(frozen=True)
class GapDistribution:
    """How much filler separates a cue from its target, chosen for learnability: a share ``adjacent`` has
    none, the rest are log-uniform between 4 and ``longest`` characters, so short gaps (which teach the
    model to hold a cue a little longer than it already can) are common and long ones still occur."""

    adjacent: float = 0.3
    longest: int = 120
    mix: FillerMix = FillerMix()

    def characters(self, rng: random.Random) -> int:
        if rng.random() < self.adjacent:
            return 0
        return self.gap(rng)

    def gap(self, rng: random.Random) -> int:
        """A gap that is never none: log-uniform between 4 and ``longest`` characters."""
        return int(math.exp(rng.uniform(math.log(4), math.log(self.longest))))

    def filler(self, rng: random.Random) -> str:
        return self.mix.of_length(rng, self.characters(rng))


# Options of ``builtin:memory:key=value,...`` with their defaults (an int default means an int option).
OPTIONS = {"size": DEFAULT_SIZE, "seed": TRAINING_SEED, "adjacent": GapDistribution.adjacent,
           "longest": GapDistribution.longest, "pool": FillerMix.pool, "variety": FillerMix.variety,
           "noise": FillerMix.noise, "language": 0.6, "repeat": 0.0, "mentions": 0.0, "subject_adjacent": -1.0}


def check_options(values: dict) -> None:
    from charlstm.errors import CorpusError

    if not 0 <= values["adjacent"] <= 1:
        raise CorpusError("builtin:memory: adjacent is a share in [0, 1]")
    if not (0 <= values["subject_adjacent"] <= 1 or values["subject_adjacent"] == -1):
        raise CorpusError("builtin:memory: subject_adjacent is a share in [0, 1], or -1 (the same as adjacent)")
    if not (0 <= values["variety"] <= 1 and 0 <= values["noise"] <= 1 and values["variety"] + values["noise"] <= 1):
        raise CorpusError("builtin:memory: variety and noise are shares in [0, 1] summing to at most 1")
    if not (0 <= values["repeat"] < 1 and 0 <= values["mentions"] < 1):
        raise CorpusError("builtin:memory: repeat and mentions are probabilities in [0, 1)")
    if not 0 <= values["language"] <= 1:
        raise CorpusError("builtin:memory: language is a share in [0, 1]")
    if not 0 <= values["pool"] <= 5000:
        raise CorpusError("builtin:memory: pool is 0 (the whole grammar) or 1..5000 sentences")
    if not 4 <= values["longest"] <= 10_000:
        raise CorpusError("builtin:memory: longest is 4..10000 characters")


def filler_mix(options: dict) -> FillerMix:
    """The filler mix of a corpus's options (``builtin:memory:pool=300,noise=0.2``)."""
    return FillerMix(pool=options.get("pool", 0), variety=options.get("variety", 0.0),
                     noise=options.get("noise", 0.0))


def grammar_sentence(rng: random.Random) -> str:
    if rng.random() < 0.2:
        return rng.choice(_SHORT_SENTENCES)
    words = [rng.choice(_SUBJECTS), rng.choice(_PREDICATES), rng.choice(_COMPLEMENTS)]
    return " ".join(w for w in words if w) + "."


@functools.lru_cache(maxsize=8)
def sentence_pool(size: int) -> tuple[str, ...]:
    """``size`` distinct grammar sentences, drawn once with a fixed seed whatever the corpus seed."""
    rng = random.Random(POOL_SEED)
    pool: dict[str, None] = {}
    while len(pool) < size:
        pool[grammar_sentence(rng)] = None
    return tuple(pool)


def tiny_sentence(rng: random.Random, at_most: int) -> str:
    """A very short sentence of at most ``at_most`` characters (the shortest one if none is that short):
    they let a gap of a few characters still be made of whole sentences."""
    fitting = [s for s in _TINY_SENTENCES if len(s) <= at_most]
    return rng.choice(fitting) if fitting else min(_TINY_SENTENCES, key=len)


def join(*sentences: str) -> str:
    return " ".join(s for s in sentences if s)


def language_story(rng: random.Random, gaps: GapDistribution, repeat: float = 0.0) -> str:
    """Cue, filler, answer; with probability ``repeat`` the question recurs after more filler, never right
    after the last answer (and again), so one cue trains holding the memory across filler at several
    distances even where the first answer came right after the cue."""
    country, language = rng.choice(COUNTRIES)
    parts = [CUE_TEMPLATE.format(country=country), gaps.filler(rng), f"{LANGUAGE_QUERY}{language}."]
    while repeat and rng.random() < repeat:
        parts += [gaps.mix.of_length(rng, gaps.gap(rng)), f"{LANGUAGE_QUERY}{language}."]
    return join(*parts)


def pronoun_story(rng: random.Random, gaps: GapDistribution, mentions: float = 0.0) -> str:
    """Subject, filler, pronoun; a newcomer, filler, the newcomer's pronoun. With probability ``mentions``
    the current subject is mentioned again after more filler (and again)."""
    first = rng.randrange(2)                 # 0: female, 1: male
    second = rng.randrange(2)                # the newcomer's gender is independent of the first
    names = (FEMALE_NAMES, MALE_NAMES)
    first_name = rng.choice(names[first])
    second_name = rng.choice([n for n in names[second] if n != first_name])

    def about(gender: int) -> list[str]:
        parts = [gaps.filler(rng), f"{PRONOUNS[gender]} {rng.choice(PRONOUN_ACTIONS)}."]
        while mentions and rng.random() < mentions:
            parts += [gaps.filler(rng), f"{PRONOUNS[gender]} {rng.choice(PRONOUN_ACTIONS)}."]
        return parts

    return join(SUBJECT_TEMPLATE.format(name=first_name, job=rng.choice(JOBS)), *about(first),
                SWITCH_TEMPLATE.format(name=second_name), *about(second))


def generate_corpus(size: int = DEFAULT_SIZE, seed: int = TRAINING_SEED, adjacent: float = GapDistribution.adjacent,
                    longest: int = GapDistribution.longest, pool: int = FillerMix.pool,
                    variety: float = FillerMix.variety, noise: float = FillerMix.noise,
                    language: float = 0.6, repeat: float = 0.0, mentions: float = 0.0,
                    subject_adjacent: float = -1.0) -> str:
    """About ``size`` characters of stories, one per line, cut at a story boundary. The subject stories'
    gaps have their own share with no filler, ``subject_adjacent`` (-1: the same as ``adjacent``): a gender
    is one bit against a country's four, and it is learned across filler only where filler separates it."""
    mix = FillerMix(pool=pool, variety=variety, noise=noise)
    gaps = GapDistribution(adjacent=adjacent, longest=longest, mix=mix)
    subject_gaps = gaps if subject_adjacent < 0 else GapDistribution(adjacent=subject_adjacent, longest=longest, mix=mix)
    rng = random.Random(seed)
    lines: list[str] = []
    total = 0
    while total < size:
        kind = rng.random()
        if kind < language:
            line = language_story(rng, gaps, repeat)
        elif kind < language + (1 - language) * 0.75:
            line = pronoun_story(rng, subject_gaps, mentions)
        else:
            line = " ".join(mix.sentence(rng) for _ in range(rng.randint(1, 4)))
        lines.append(line)
        total += len(line) + 1
    return "\n".join(lines) + "\n"
