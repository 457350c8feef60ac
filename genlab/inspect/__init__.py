"""The course's transformer concepts made visible: next-token choice, attention, embeddings."""

from genlab.inspect.core import (NextTokenRow, attention_map, embedding_similarity, next_token_table,
                                 token_strings)

__all__ = ["NextTokenRow", "attention_map", "embedding_similarity", "next_token_table", "token_strings"]
