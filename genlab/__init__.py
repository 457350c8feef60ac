"""genlab: carry a language model through the generative-AI project lifecycle."""

__version__ = "0.1.0"
