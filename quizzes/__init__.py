"""Quizzes: question bank, grading, GIFT interop and item statistics.

The modules `grading`, `bank`, `gift` and `statistics` are pure Python (no Django imports) so
they can be tested and reused without a database; the Django app builds on them.
"""
