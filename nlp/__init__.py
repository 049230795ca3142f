"""Models only: encoder, intent and sentiment classifiers, training, evaluation.

Imports nothing else of careloop's; configuration comes in as arguments.
"""
