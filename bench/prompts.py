"""The chat prompts the generation benches send (bench/generate.py, bench/contention.py)."""

PROMPTS = [
    "What is the capital of France?", "Write a haiku about the sea.",
    "Explain photosynthesis in one sentence.", "List three colors.",
    "Give me a tip for a job interview.", "What is 12 times 7?",
    "Summarize the plot of Cinderella in two sentences.", "Translate 'good morning' into Spanish.",
    "Name a famous physicist and one discovery.", "Why is the sky blue?",
    "Suggest a name for a pet turtle.", "What should I pack for a beach trip?",
    "Describe a cat to someone who has never seen one.", "How do I boil an egg?",
    "Write a short apology for a late delivery.", "What are the benefits of walking daily?",
]
