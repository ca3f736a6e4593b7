"""Feedback labelling: documents judged by whether a generator answers correctly from them."""
