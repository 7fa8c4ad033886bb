"""genre-lab core library: audio in, features and spectrograms out, models, runs.

No Streamlit in here: the pages in ``pages/`` and the CLI (``python -m genre_core``)
are thin views over this package. See ``docs/ARCHITECTURE.md`` for the module map.
"""

__version__ = "0.1.0"

from .errors import (  # noqa: F401
    AudioError,
    DatasetError,
    GenreLabError,
    RunError,
    SplitLeakError,
    TrainingCancelled,
)
