"""The built-in ``memory`` corpus: English-like text built to exercise long-range memory.

After the examples in Olah's "Understanding LSTM Networks":

* country -> language: "I grew up in France. <filler> I speak fluent French." The language is only
  predictable from a cue that may lie hundreds of characters back.
* subject -> pronoun, with a change of subject that must overwrite the memory (the forget gate's job):
  "Maria is a doctor. <filler> She ... Then Paul arrived. <filler> He ..."
* filler: varied, grammatical, neutral sentences that never mention a country, a language, a gendered
  name or a gendered pronoun, so they carry no information about the answer.

The generator is deterministic for a seed. Probes (``charlstm.probes``) build their contexts from the same
pieces with a seed never used for training, so a probe's filler is text the model has not seen verbatim.
"""

from __future__ import annotations

import functools
import math
import random
import zlib
from dataclasses import dataclass

# Bump when the output for a given (size, seed) changes, so cached encodings are rebuilt.
GENERATOR_VERSION = "memory-4"
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


@dataclass(frozen=True)
class GapDistribution:
    """How much filler separates a cue from its target, as a mixture chosen for learnability.

    With ``longest`` > 0 (the default), gaps are measured in characters: a share ``adjacent`` has none,
    the rest are log-uniform between 4 and ``longest`` characters, so short gaps (which teach the model to
    hold a cue a little longer than it already can) are common and long ones still occur. With
    ``longest`` = 0, gaps are whole sentences: ``adjacent`` none, ``one`` one, the rest 2..``max``.
    """

    adjacent: float = 0.3
    one: float = 0.3
    max: int = 8
    longest: int = 320
    pool: int = 0   # > 0: filler sentences come from a fixed pool of this many (0: the whole grammar)

    def sample(self, rng: random.Random) -> int:
        """Filler characters (character mode) or sentences (sentence mode)."""
        u = rng.random()
        if u < self.adjacent:
            return 0
        if self.longest:
            return int(math.exp(rng.uniform(math.log(4), math.log(self.longest))))
        if u < self.adjacent + self.one or self.max < 2:
            return 1
        return rng.randint(2, self.max)

    def filler(self, rng: random.Random) -> str:
        amount = self.sample(rng)
        pool = sentence_pool(self.pool)
        return filler_of_length(rng, amount, pool=pool) if self.longest else filler(rng, amount, pool=pool)


# Options of ``builtin:memory:key=value,...`` with their defaults (an int default means an int option).
OPTIONS = {"size": DEFAULT_SIZE, "seed": TRAINING_SEED, "adjacent": GapDistribution.adjacent,
           "one": GapDistribution.one, "max": GapDistribution.max, "longest": GapDistribution.longest,
           "pool": GapDistribution.pool, "language": 0.6, "repeat": 0.0}


def check_options(values: dict) -> None:
    from charlstm.errors import CorpusError

    if not (0 <= values["adjacent"] <= 1 and 0 <= values["one"] <= 1 and values["adjacent"] + values["one"] <= 1):
        raise CorpusError("builtin:memory: adjacent and one are shares in [0, 1] summing to at most 1")
    if not 0 <= values["repeat"] < 1:
        raise CorpusError("builtin:memory: repeat is a probability in [0, 1)")
    if not 0 <= values["language"] <= 1:
        raise CorpusError("builtin:memory: language is a share in [0, 1]")
    if values["max"] < 1:
        raise CorpusError("builtin:memory: max must be at least 1 sentence")
    if not 0 <= values["pool"] <= 5000:
        raise CorpusError("builtin:memory: pool is 0 (the whole grammar) or 1..5000 sentences")
    if values["longest"] != 0 and not 4 <= values["longest"] <= 10_000:
        raise CorpusError("builtin:memory: longest is 0 (gaps in sentences) or 4..10000 characters")


def _compose(rng: random.Random) -> str:
    if rng.random() < 0.2:
        return rng.choice(_SHORT_SENTENCES)
    words = [rng.choice(_SUBJECTS), rng.choice(_PREDICATES), rng.choice(_COMPLEMENTS)]
    return " ".join(w for w in words if w) + "."


def reserved_for_probes(sentence: str) -> bool:
    """About one filler sentence in ten never appears in a generated corpus: probes use only those, so
    a probe's filler is text the model has never seen, not merely a new order of seen sentences."""
    return zlib.crc32(sentence.encode()) % 10 == 0


def filler_sentence(rng: random.Random, for_probes: bool = False, pool: tuple[str, ...] | None = None) -> str:
    if pool:
        return rng.choice(pool)
    while True:
        sentence = _compose(rng)
        if reserved_for_probes(sentence) == for_probes:
            return sentence


@functools.lru_cache(maxsize=8)
def sentence_pool(size: int) -> tuple[str, ...] | None:
    """``size`` distinct filler sentences drawn once from the grammar (a fixed seed, never probe-reserved);
    None for 0, meaning the whole grammar."""
    if not size:
        return None
    rng = random.Random(POOL_SEED)
    pool: dict[str, None] = {}
    while len(pool) < size:
        pool[filler_sentence(rng)] = None
    return tuple(pool)


def tiny_sentence(rng: random.Random, at_most: int, for_probes: bool = False) -> str:
    """A very short sentence of at most ``at_most`` characters (the shortest one if none is that short):
    they let a gap of a few characters still be made of whole sentences."""
    pool = [s for s in _TINY_SENTENCES if reserved_for_probes(s) == for_probes]
    fitting = [s for s in pool if len(s) <= at_most]
    return rng.choice(fitting) if fitting else min(pool, key=len)


def filler(rng: random.Random, sentences: int, for_probes: bool = False, pool: tuple[str, ...] | None = None) -> str:
    """``sentences`` neutral sentences joined by spaces ("" for zero)."""
    return " ".join(filler_sentence(rng, for_probes, pool) for _ in range(sentences))


def filler_of_length(rng: random.Random, chars: int, for_probes: bool = False,
                     pool: tuple[str, ...] | None = None) -> str:
    """Whole filler sentences totalling about ``chars`` characters (short ones near the end, so small
    gaps stay small)."""
    parts: list[str] = []
    total = 0  # length of " ".join(parts)
    while total < chars:
        remaining = chars - total - (1 if parts else 0)
        parts.append(filler_sentence(rng, for_probes, pool) if remaining >= 24
                     else tiny_sentence(rng, remaining, for_probes))
        total += len(parts[-1]) + (1 if len(parts) > 1 else 0)
    return " ".join(parts)


def join(*sentences: str) -> str:
    return " ".join(s for s in sentences if s)


def language_story(rng: random.Random, gaps: GapDistribution, repeat: float = 0.0) -> str:
    """Cue, filler, answer; with probability ``repeat`` the question recurs after more filler (and again),
    so one cue trains the memory at several distances."""
    country, language = rng.choice(COUNTRIES)
    parts = [CUE_TEMPLATE.format(country=country), gaps.filler(rng), f"{LANGUAGE_QUERY}{language}."]
    while repeat and rng.random() < repeat:  # draws nothing when off, so older corpora stay identical
        parts += [gaps.filler(rng), f"{LANGUAGE_QUERY}{language}."]
    return join(*parts)


def pronoun_story(rng: random.Random, gaps: GapDistribution) -> str:
    first = rng.randrange(2)                 # 0: female, 1: male
    second = rng.randrange(2)                # the newcomer's gender is independent of the first
    names = (FEMALE_NAMES, MALE_NAMES)
    first_name = rng.choice(names[first])
    second_name = rng.choice([n for n in names[second] if n != first_name])
    return join(
        SUBJECT_TEMPLATE.format(name=first_name, job=rng.choice(JOBS)),
        gaps.filler(rng),
        f"{PRONOUNS[first]} {rng.choice(PRONOUN_ACTIONS)}.",
        SWITCH_TEMPLATE.format(name=second_name),
        gaps.filler(rng),
        f"{PRONOUNS[second]} {rng.choice(PRONOUN_ACTIONS)}.",
    )


def generate_corpus(size: int = DEFAULT_SIZE, seed: int = TRAINING_SEED, adjacent: float = GapDistribution.adjacent,
                    one: float = GapDistribution.one, max: int = GapDistribution.max,
                    longest: int = GapDistribution.longest, pool: int = GapDistribution.pool,
                    language: float = 0.6, repeat: float = 0.0) -> str:
    """About ``size`` characters of stories, one per line, cut at a story boundary."""
    gaps = GapDistribution(adjacent=adjacent, one=one, max=max, longest=longest, pool=pool)
    rng = random.Random(seed)
    lines: list[str] = []
    total = 0
    while total < size:
        kind = rng.random()
        if kind < language:
            line = language_story(rng, gaps, repeat)
        elif kind < language + (1 - language) * 0.75:
            line = pronoun_story(rng, gaps)
        else:
            line = filler(rng, rng.randint(1, 4), pool=sentence_pool(pool))
        lines.append(line)
        total += len(line) + 1
    return "\n".join(lines) + "\n"
