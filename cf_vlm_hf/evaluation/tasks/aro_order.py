"""ARO's COCO-Order / Flickr30k-Order test cases: each caption against four word-order perturbations of itself.

For every caption of the Karpathy test split (BLIP's ``coco_karpathy_test.json`` / ``flickr30k_test.json``: a list
of ``{"image": path, "caption": [str, ...]}``), the options are, after the same normalisation (lower case, the
characters ``.!"()*#:;~`` removed, at most 30 words):

0. the caption itself (the right answer);
1. its nouns shuffled among themselves and its adjectives among themselves;
2. every word that is not a noun or an adjective shuffled;
3. the words shuffled within each trigram;
4. the trigrams shuffled.

Part-of-speech tags come from a tagger (spaCy's ``en_core_web_sm``, Penn tags NN*/JJ*, as the authors used); the
trigram perturbations split words on a regular expression (the authors used nltk's tokenizer). The perturbations
are random: this module draws them from one seeded generator, so a seed gives the same cases, but they are not
the authors' draws (theirs depend on the spaCy / nltk versions too). The results record the seed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np

NOUN_TAGS = frozenset({"NN", "NNS", "NNP", "NNPS"})
ADJECTIVE_TAGS = frozenset({"JJ", "JJR", "JJS"})
MAX_WORDS = 30
Tagger = Callable[[str], tuple[list[str], list[str]]]


def normalise_caption(caption: str, max_words: int = MAX_WORDS) -> str:
    """Lower case, ``.!"()*#:;~`` replaced by spaces, whitespace collapsed, at most ``max_words`` words."""
    text = re.sub(r"[.!\"()*#:;~]", " ", caption.lower())
    return " ".join(text.split()[:max_words])


def word_tokens(text: str) -> list[str]:
    """Words and punctuation marks, each a token."""
    return re.findall(r"\w+(?:'\w+)?|[^\w\s]", text)


def _permute_positions(tokens: list[str], positions: Sequence[int], rng: np.random.Generator) -> None:
    if len(positions) > 1:
        values = [tokens[i] for i in positions]
        for i, j in zip(positions, rng.permutation(len(values))):
            tokens[i] = values[j]


def shuffle_nouns_and_adjectives(tokens: Sequence[str], tags: Sequence[str], rng: np.random.Generator) -> str:
    out = list(tokens)
    _permute_positions(out, [i for i, t in enumerate(tags) if t in NOUN_TAGS], rng)
    _permute_positions(out, [i for i, t in enumerate(tags) if t in ADJECTIVE_TAGS], rng)
    return " ".join(out)


def shuffle_all_but_nouns_and_adjectives(tokens: Sequence[str], tags: Sequence[str], rng: np.random.Generator) -> str:
    out = list(tokens)
    _permute_positions(out, [i for i, t in enumerate(tags) if t not in NOUN_TAGS | ADJECTIVE_TAGS], rng)
    return " ".join(out)


def trigrams(tokens: Sequence[str]) -> list[list[str]]:
    """Consecutive groups of three tokens (the last may be shorter)."""
    return [list(tokens[i : i + 3]) for i in range(0, len(tokens), 3)]


def shuffle_within_trigrams(tokens: Sequence[str], rng: np.random.Generator) -> str:
    return " ".join(" ".join(group[j] for j in rng.permutation(len(group))) for group in trigrams(tokens))


def shuffle_trigrams(tokens: Sequence[str], rng: np.random.Generator) -> str:
    groups = trigrams(tokens)
    return " ".join(" ".join(groups[j]) for j in rng.permutation(len(groups)))


def order_options(caption: str, tagger: Tagger, rng: np.random.Generator, max_words: int = MAX_WORDS) -> list[str]:
    """[caption, its four perturbations], each normalised (see the module docstring)."""
    tagged_tokens, tags = tagger(caption)
    words = word_tokens(caption)
    perturbed = [
        shuffle_nouns_and_adjectives(tagged_tokens, tags, rng),
        shuffle_all_but_nouns_and_adjectives(tagged_tokens, tags, rng),
        shuffle_within_trigrams(words, rng),
        shuffle_trigrams(words, rng),
    ]
    return [normalise_caption(caption, max_words)] + [normalise_caption(p, max_words) for p in perturbed]


def build_order_cases(records: Sequence[dict], tagger: Tagger, seed: int = 1, max_words: int = MAX_WORDS
                      ) -> list[dict]:
    """One case ``{"image", "caption_options"}`` per caption of BLIP-format ``records``, options drawn with ``seed``."""
    rng = np.random.default_rng(seed)
    return [{"image": record["image"], "caption_options": order_options(caption, tagger, rng, max_words)}
            for record in records for caption in record["caption"]]


def spacy_tagger(model: str = "en_core_web_sm") -> Tagger:
    """spaCy's tokens and Penn part-of-speech tags (``token.tag_``); a ValueError saying how to install it."""
    try:
        import spacy

        nlp = spacy.load(model)
    except (ImportError, OSError) as err:
        raise ValueError(
            f"building ARO's Order cases needs spaCy and its {model} model (pip install spacy && python -m spacy "
            f"download {model}), or prepared case files (docs/evaluation.md, 'aro'): {err}"
        ) from err

    def tag(text: str) -> tuple[list[str], list[str]]:
        doc = nlp(text)
        return [t.text for t in doc], [t.tag_ for t in doc]

    return tag
