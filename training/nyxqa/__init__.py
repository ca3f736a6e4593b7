"""The NyxQA-style synthetic training data pipeline."""
