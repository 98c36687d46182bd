"""Torch building blocks: networks, layers and losses. Nothing here knows about scikit-learn."""
