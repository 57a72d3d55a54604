"""Hotline BST: a telephone line, in spoken Indonesian, for Jakarta's cash social assistance."""

__version__ = "0.1.0"
