"""The words of the visible catalog, kept in each process per catalog change, and what a
query's words find in them.

Search works the same on every database: the index is read from the offering table once
per catalog change token (as the browse outline is, catalog/browse.py) and each query is
answered from memory. A query word finds a word of an offering when it is that word, the
start of it (people type), or within a typo or two of it: one typo from four letters on,
two from eight, counted as rapidfuzz's optimal string alignment distance (two swapped
letters are one typo). The last word, the one being typed, may also be the start of a
word with a typo in it, when it finds nothing else. Every word of the query must find
something in an offering, except filler words ("a", "for", "my", …), which only rank.
Offerings are ranked by where their words were found (name, the owner team's keywords,
tags, category, summary) and how closely.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from array import array
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from itertools import islice

from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA

# Where a word was found, best first, and what finding a query word there is worth.
FIELDS = ("name", "keywords", "tags", "category", "summary")
WEIGHTS = (10.0, 8.0, 6.0, 4.0, 2.0)
_FIELD_CODES = 8  # a posting is position * _FIELD_CODES + field

# How closely a query word found a word: exactly, as its start (more of it, more worth),
# with one or two typos, or as the start of a word with one typo.
EXACT = 1.0
PREFIX = 0.6
PREFIX_SPAN = 0.2
WITH_TYPOS = {1: 0.65, 2: 0.5}
PREFIX_WITH_TYPO = 0.45

# The whole query as an offering's name, or as its first words, is what people mean.
NAME_IS_QUERY = 6.0
NAME_STARTS_WITH_QUERY = 3.0

# fmt: off
FILLERS = frozenset((
    "a", "an", "and", "any", "at", "by", "for", "from", "get", "i", "in", "into", "is",
    "me", "my", "need", "new", "of", "on", "or", "our", "please", "some", "the", "to",
    "want", "we", "with",
))
# fmt: on
SUGGESTION_CUTOFF = 65.0  # rapidfuzz ratio (0-100) a word must reach to be offered instead
_KEPT_MATCHES = 5_000

_WORD = re.compile(r"\w+(?:[-./']\w+)*")
_JOINERS = re.compile(r"[-./']")


def normalized(text: str) -> str:
    """Lower case without accents: "Résumé" is "resume"."""
    text = text.casefold()
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def words_of(text: str) -> list[str]:
    """The words of a query or of an offering's text, in order; a word joined by hyphens,
    dots or slashes ("on-call", "ci/cd") is its parts and the parts written together."""
    words: list[str] = []
    for compound in _WORD.findall(normalized(text)):
        parts = [part for part in _JOINERS.split(compound) if part]
        words.extend(parts)
        if len(parts) > 1:
            words.append("".join(parts))
    return words


# What an offering is searched by: (id, name, keywords, tags, category, summary).
Searchable = tuple[int, str, Sequence[str], Sequence[str], str, str]


def typos_allowed(word: str) -> int:
    return 0 if len(word) < 4 else 1 if len(word) < 8 else 2


class Index:
    """The visible offerings' words, each with the offerings (and field) it is found in."""

    def __init__(self, offerings: Iterable[Searchable]) -> None:
        """``offerings``: (id, name, keywords, tags, category, summary) of each."""
        ids: list[int] = []
        names: list[str] = []
        postings: defaultdict[str, array[int]] = defaultdict(lambda: array("q"))
        for position, (id_, name, keywords, tags, category, summary) in enumerate(offerings):
            ids.append(id_)
            names.append(" ".join(words_of(name)))
            found_in: dict[str, int] = {}
            texts = (name, " ".join(keywords), " ".join(tags), category, summary)
            for field, text in enumerate(texts):
                for word in words_of(text):
                    found_in.setdefault(word, field)  # the best field it is in
            for word, field in found_in.items():
                postings[word].append(position * _FIELD_CODES + field)
        self.ids = ids
        self.names = names
        self.postings = dict(postings)
        self.words = sorted(self.postings)
        self._matches: dict[tuple[str, bool], list[tuple[str, float]]] = {}
        self._guard = threading.Lock()

    def rank(self, words: Sequence[str], shown: Callable[[int], bool]) -> list[int]:
        """Ids of the offerings that every word finds (filler words aside) and ``shown``
        (given an offering id) lets through, best first."""
        if not words:
            return []
        meaningful = [word for word in words if word not in FILLERS] or list(words)
        last = len(words) - 1
        found = {index: self._found(word, typing=index == last) for index, word in enumerate(words)}
        required: list[dict[int, float]] = [
            found[index] for index, word in enumerate(words) if word in meaningful
        ]
        smallest = min(required, key=len)
        candidates = set(smallest)
        for each in required:
            candidates.intersection_update(each)
        query = " ".join(words)
        scored = []
        for position in candidates:
            if not shown(self.ids[position]):
                continue
            score = sum(each.get(position, 0.0) for each in found.values())
            name = self.names[position]
            if name == query:
                score += NAME_IS_QUERY
            elif name.startswith(query + " "):
                score += NAME_STARTS_WITH_QUERY
            scored.append((-score, name, self.ids[position]))
        scored.sort()
        return [id_ for _, _, id_ in scored]

    def suggestion(self, words: Sequence[str], shown: Callable[[int], bool]) -> str:
        """Another query, close to ``words``, that finds something ``shown`` lets through:
        each word that finds nothing replaced by the closest word of the catalog, or left
        out when none is close; "" when there is none."""
        suggested: list[str] = []
        for index, word in enumerate(words):
            if self.matches(word, typing=index == len(words) - 1):
                suggested.append(word)
                continue
            near = process.extractOne(
                word, self.words, scorer=fuzz.ratio, score_cutoff=SUGGESTION_CUTOFF
            )
            if near is not None and near[0] not in suggested:
                suggested.append(near[0])
        if not suggested or suggested == list(words):
            return ""
        return " ".join(suggested) if self.rank(suggested, shown) else ""

    def matches(self, word: str, *, typing: bool) -> list[tuple[str, float]]:
        """The catalog's words that ``word`` finds, with how closely (``EXACT`` … )."""
        key = (word, typing)
        kept = self._matches.get(key)
        if kept is not None:
            return kept
        closeness: dict[str, float] = {}
        start = bisect_left(self.words, word)
        for other in islice(self.words, start, None):
            if not other.startswith(word):
                break
            closeness[other] = (
                EXACT if other == word else PREFIX + PREFIX_SPAN * len(word) / len(other)
            )
        typos = typos_allowed(word)
        if typos:
            for other, distance, _ in process.extract(
                word, self.words, scorer=OSA.distance, score_cutoff=typos, limit=None
            ):
                closeness.setdefault(other, WITH_TYPOS.get(distance, EXACT))
        if typing and len(word) >= 5 and not closeness:
            for length in (len(word), len(word) + 1):
                starts = [other[:length] for other in self.words]
                for _, distance, index in process.extract(
                    word, starts, scorer=OSA.distance, score_cutoff=1, limit=None
                ):
                    if distance:
                        closeness.setdefault(self.words[index], PREFIX_WITH_TYPO)
        matched = sorted(closeness.items())
        with self._guard:
            if len(self._matches) >= _KEPT_MATCHES:
                self._matches.clear()
            self._matches[key] = matched
        return matched

    def _found(self, word: str, *, typing: bool) -> dict[int, float]:
        """What ``word`` is worth in each offering (by position) it finds something in."""
        worth: dict[int, float] = {}
        for other, closeness in self.matches(word, typing=typing):
            for posting in self.postings[other]:
                position, field = divmod(posting, _FIELD_CODES)
                value = WEIGHTS[field] * closeness
                if value > worth.get(position, 0.0):
                    worth[position] = value
        return worth
