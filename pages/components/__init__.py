"""Streamlit helpers shared by the genre-lab pages (not pages themselves).

Streamlit only turns the top-level ``pages/*.py`` files into pages, so this
sub-package is safe. Import as ``from pages.components.common import ...``.

* :mod:`pages.components.common` -- page setup, the error boundary, cached run
  loading, data/models location settings, run listings.
* :mod:`pages.components.predict_charts` -- plotly figures and tables for the
  Predict page (pure functions, testable without Streamlit).
* :mod:`pages.components.examples` -- example clips the app makes offline.
"""
