"""The LLM behind the designer: one litellm client with bounded calls (``client``), error classes (``errors``), and every answer stored in the run (``responses``)."""
