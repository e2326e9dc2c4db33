import functools
import random
import re

import pytest

from charlstm.corpora import memory, unseen, validation


def test_deterministic_for_a_seed_and_sized():
    a = memory.generate_corpus(size=50_000, seed=3)
    assert a == memory.generate_corpus(size=50_000, seed=3)
    assert a != memory.generate_corpus(size=50_000, seed=4)
    assert 50_000 <= len(a) < 52_000


def test_has_enough_country_language_pairs_and_both_story_kinds():
    assert len(memory.COUNTRIES) >= 12
    languages = [language for _, language in memory.COUNTRIES]
    assert len(set(languages)) == len(languages)  # each answer identifies one cue
    text = memory.generate_corpus(size=200_000)
    for country, language in memory.COUNTRIES:
        assert f"I grew up in {country}." in text and f"I speak fluent {language}." in text
    assert re.search(r"Then \w+ arrived\.", text)


def test_every_language_story_answers_its_own_cue():
    text = memory.generate_corpus(size=200_000)
    pairs = dict(memory.COUNTRIES)
    for line in text.splitlines():
        cue = re.match(r"I grew up in (\w+)\.", line)
        if cue:
            assert line.endswith(f"I speak fluent {pairs[cue.group(1)]}.")


def test_filler_is_neutral():
    rng = random.Random(0)
    banned = {w for pair in memory.COUNTRIES for w in pair} | set(memory.FEMALE_NAMES) | set(memory.MALE_NAMES)
    for _ in range(2000):
        mix = memory.FillerMix(pool=50, variety=0.3, noise=0.3)
        words = set(re.findall(r"[A-Za-z]+", mix.sentence(rng)))
        assert not words & banned
        assert not words & {"He", "She", "he", "she", "him", "her", "his", "I"}


def test_cue_to_target_distances_span_zero_to_longest():
    text = memory.generate_corpus(size=300_000, longest=320)
    distances = []
    for line in text.splitlines():
        match = re.match(r"(I grew up in \w+\.) ?(.*?) ?I speak fluent", line)
        if match:
            distances.append(len(match.group(2)))
    assert min(distances) == 0 and max(distances) >= 300


def test_filler_of_length_reaches_the_length():
    rng = random.Random(1)
    for chars in (0, 25, 100, 400):
        filler = memory.FillerMix().of_length(rng, chars)
        assert len(filler) >= chars and (chars == 0 or filler.endswith("."))


def test_repeated_questions_and_sentence_pool():
    text = memory.generate_corpus(size=100_000, repeat=0.5, pool=50)
    pairs = dict(memory.COUNTRIES)
    repeated = 0
    for line in text.splitlines():
        cue = re.match(r"I grew up in (\w+)\.", line)
        if cue:
            answers = re.findall(r"I speak fluent (\w+)\.", line)
            assert set(answers) == {pairs[cue.group(1)]}
            repeated += len(answers) > 1
    assert repeated > 100
    pool = set(memory.sentence_pool(50))
    assert len(pool) == 50
    text = memory.generate_corpus(size=100_000, pool=50)
    gaps = [m.group(1) for m in re.finditer(r"I grew up in \w+\. (.+?) I speak fluent", text)]
    long_sentences = [s for gap in gaps for s in re.split(r"(?<=\.) ", gap) if len(s) > 24]
    assert long_sentences and all(s in pool for s in long_sentences)


def test_filler_mix_draws_pool_grammar_and_pseudo_words_in_their_shares():
    rng = random.Random(2)
    mix = memory.FillerMix(pool=40, variety=0.3, noise=0.2)
    pool = set(memory.sentence_pool(40))
    drawn = [mix.sentence(rng) for _ in range(4000)]
    grammar_words = set(" ".join(memory._SUBJECTS + memory._PREDICATES + memory._COMPLEMENTS
                                 + memory._SHORT_SENTENCES).lower().replace(".", "").split())
    noise = [s for s in drawn if not set(s.lower().rstrip(".").split()) <= grammar_words]
    from_pool = [s for s in drawn if s in pool]
    assert abs(len(noise) / 4000 - 0.2) < 0.03
    assert 0.5 - 0.03 < len(from_pool) / 4000 < 0.5 + 0.03 + 0.3 * 40 / 500   # the grammar can draw a pool sentence
    assert all(s[0].isupper() and s.endswith(".") for s in noise)


def test_gaps_in_characters_span_short_and_long():
    text = memory.generate_corpus(size=300_000, longest=320)
    distances = [len(m.group(1)) for m in re.finditer(r"I grew up in \w+\. ?(.*?) ?I speak fluent", text)]
    assert min(distances) == 0 and max(distances) >= 300
    assert sum(1 <= d <= 15 for d in distances) > 50  # very short gaps exist: tiny whole sentences


# ------------------------------------------------------------------ the probes' unseen filler

@functools.lru_cache(maxsize=1)
def _training_text() -> str:
    from charlstm import recipes
    from charlstm.corpora import parse_builtin

    return parse_builtin(recipes.MEMORY_CORPUS.replace("builtin:memory:", "builtin:memory:size=300k,")).generate()


def _sentences(text: str) -> list[str]:
    return [s.strip() + "." for line in text.splitlines() for s in line.split(".") if s.strip()]


def test_unseen_filler_shares_no_content_word_and_no_sentence_opening_with_training_text():
    """The probes' unseen filler is new text, not new combinations: none of its content words occurs in a
    training corpus, and none of its sentences opens the way a training sentence does."""
    training = _training_text()
    training_words = set(re.findall(r"[a-z]+", training.lower()))
    assert unseen.content_words() and not unseen.content_words() & training_words
    training_openings = {" ".join(s.split()[:2]) for s in _sentences(training)}
    filler = unseen.unseen_filler(random.Random(5), 20_000)
    probe_sentences = _sentences(filler)
    assert len(set(probe_sentences)) > 300
    assert not {" ".join(s.split()[:2]) for s in probe_sentences} & training_openings
    assert set(filler) <= set(training)          # every character is in the trained vocabulary


@pytest.mark.parametrize("filler", [unseen.unseen_filler, validation.validation_filler])
def test_probe_and_watch_filler_is_neutral_and_sized(filler):
    banned = ({w.lower() for pair in memory.COUNTRIES for w in pair} | {n.lower() for n in memory.FEMALE_NAMES}
              | {n.lower() for n in memory.MALE_NAMES} | {"he", "she", "him", "her", "his", "i", "grew", "speak"})
    rng = random.Random(3)
    for chars in (0, 10, 25, 100, 400):
        text = filler(rng, chars)
        assert len(text) >= chars and (chars == 0 or text.endswith("."))
        assert chars == 0 or len(text) < chars + 90
        assert not set(re.findall(r"[a-z]+", text.lower())) & banned


# ------------------------------------------------------------------ the watch's validation filler

def _openings(sentences: list[str]) -> set[str]:
    return {" ".join(s.split()[:2]) for s in sentences}


def test_validation_filler_is_a_third_grammar_disjoint_from_training_text_and_from_the_probes():
    """The filler that chooses checkpoints (the watch) shares no content word and no sentence opening with
    a training corpus, nor with the probes' unseen grammar: choosing on it cannot flatter either."""
    training = _training_text()
    training_words = set(re.findall(r"[a-z]+", training.lower()))
    words = validation.content_words()
    assert len(words) > 100
    assert not words & training_words
    assert not words & unseen.content_words()
    watch = _sentences(validation.validation_filler(random.Random(5), 20_000))
    probes = _sentences(unseen.unseen_filler(random.Random(5), 20_000))
    assert len(set(watch)) > 300
    assert not _openings(watch) & _openings(_sentences(training))
    assert not _openings(watch) & _openings(probes)
    # no unseen content word in the watch's text either (function words such as "the" are shared)
    assert not set(re.findall(r"[a-z]+", " ".join(watch).lower())) & unseen.content_words()
    # every character is in the vocabulary of any memory corpus, even one of language stories alone
    assert set("".join(watch)) <= set(memory.generate_corpus(size=300_000, language=1.0))


def test_subject_stories_take_their_own_share_of_gaps_without_filler():
    """subject_adjacent sets how often a pronoun follows its subject at once; the country stories keep
    adjacent's share, and -1 (the default) is adjacent's share for both."""
    def shares(text):
        subjects = [line for line in text.splitlines() if " arrived." in line]
        countries = [line for line in text.splitlines() if line.startswith("I grew up in")]
        at_once = sum(bool(re.match(r"^\w+ is a \w+\. (She|He) ", line)) for line in subjects) / len(subjects)
        asked = sum(bool(re.match(r"^I grew up in \w+\. I speak fluent ", line)) for line in countries) / len(countries)
        return at_once, asked

    options = {"size": 300_000, "adjacent": 0.7, "language": 0.5}
    at_once, asked = shares(memory.generate_corpus(**options, subject_adjacent=0.2))
    assert abs(at_once - 0.2) < 0.05 and abs(asked - 0.7) < 0.05
    assert memory.generate_corpus(**options, subject_adjacent=-1) == memory.generate_corpus(**options)
    assert abs(shares(memory.generate_corpus(**options))[0] - 0.7) < 0.05


def test_mentions_repeat_the_current_subjects_pronoun():
    text = memory.generate_corpus(size=100_000, mentions=0.5)
    repeated = 0
    for line in text.splitlines():
        if " arrived." not in line:
            continue
        before, after = line.split(" arrived.")
        first = memory.PRONOUNS[0] if line.split()[0] in memory.FEMALE_NAMES else memory.PRONOUNS[1]
        newcomer = memory.PRONOUNS[0] if before.split()[-1] in memory.FEMALE_NAMES else memory.PRONOUNS[1]
        said_before = re.findall(r"\b(She|He) ", before)
        assert said_before and set(said_before) == {first}
        assert set(re.findall(r"\b(She|He) ", after)) == {newcomer}
        repeated += len(said_before) > 1
    assert repeated > 100


def test_a_repeated_question_always_comes_after_filler():
    """The first answer may follow its cue at once; every repeat of the question waits for filler, so a
    repeat trains holding the memory across text even in a corpus of mostly adjacent answers."""
    text = memory.generate_corpus(size=100_000, adjacent=1.0, repeat=0.5, language=1.0, pool=30)
    repeats = 0
    for line in text.splitlines():
        answers = line.split(memory.LANGUAGE_QUERY)[1:]
        for answer in answers[:-1]:                   # what follows each answer up to the next question
            after = answer.split(".", 1)[1]
            assert after.strip(), line                # never the next question straight away
            repeats += 1
    assert repeats > 100
