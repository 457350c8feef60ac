"""LLM-powered applications: retrieval-augmented generation, chain-of-thought, program-aided reasoning in a sandbox, ReAct agents with tools."""
