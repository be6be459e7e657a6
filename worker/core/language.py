"""The language of an article, when its feed does not say: py3langid, offline.

py3langid ships its model inside the package (a 4 MB numpy archive, loaded once per
process on first use, about half a second); nothing is downloaded at run time. A guess is
kept only when the model is confident and has enough text to go on.
"""

from __future__ import annotations

from functools import cache
from typing import Any

MIN_CHARS = 40
MIN_PROBABILITY = 0.80
SAMPLE_CHARS = 2_000


@cache
def _identifier() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def detect(*texts: str | None) -> str | None:
    """An ISO 639-1 code for the joined texts, or None when unsure."""
    sample = " ".join(t for t in texts if t)[:SAMPLE_CHARS]
    if len(sample.strip()) < MIN_CHARS:
        return None
    code, probability = _identifier().classify(sample)
    return str(code) if probability >= MIN_PROBABILITY else None
