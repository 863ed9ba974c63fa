"""Design: the prompt, the designers (offline, LLM, scripted), extraction of the code, and validation with fix-retry (``candidates``)."""
