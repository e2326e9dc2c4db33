import random
import re

from charlstm.corpora import memory


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
        words = set(re.findall(r"[A-Za-z]+", memory.filler_sentence(rng)))
        assert not words & banned
        assert not words & {"He", "She", "he", "she", "him", "her", "his", "I"}


def test_cue_to_target_distances_span_zero_to_over_300():
    text = memory.generate_corpus(size=300_000)
    distances = []
    for line in text.splitlines():
        match = re.match(r"(I grew up in \w+\.) ?(.*?) ?I speak fluent", line)
        if match:
            distances.append(len(match.group(2)))
    assert min(distances) == 0 and max(distances) >= 300


def test_filler_of_length_reaches_the_length():
    rng = random.Random(1)
    for chars in (0, 25, 100, 400):
        filler = memory.filler_of_length(rng, chars)
        assert len(filler) >= chars and (chars == 0 or filler.endswith("."))


def test_probe_filler_never_appears_in_a_generated_corpus():
    text = memory.generate_corpus(size=300_000)
    rng = random.Random(11)
    probe_sentences = {memory.filler_sentence(rng, for_probes=True) for _ in range(2000)}
    assert len(probe_sentences) > 200
    assert all(memory.reserved_for_probes(s) for s in probe_sentences)
    assert not [s for s in probe_sentences if s in text]


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
    composed = {s for s in memory.sentence_pool(50)}
    assert len(composed) == 50 and not any(memory.reserved_for_probes(s) for s in composed)


def test_gaps_in_characters_span_short_and_long():
    text = memory.generate_corpus(size=300_000)
    distances = [len(m.group(1)) for m in re.finditer(r"I grew up in \w+\. ?(.*?) ?I speak fluent", text)]
    assert min(distances) == 0 and max(distances) >= 300
    assert sum(1 <= d <= 15 for d in distances) > 50  # very short gaps exist: tiny whole sentences
