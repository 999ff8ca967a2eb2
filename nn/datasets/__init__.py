"""Datasets that give what `keras.datasets` gives, built from public sources.

``from nn.datasets import imdb`` then ``imdb.load_data(num_words=10000)``, as with Keras.
"""

from nn.datasets import imdb

__all__ = ["imdb"]
