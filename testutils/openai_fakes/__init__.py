"""Local servers that speak the OpenAI-compatible APIs the processing engines call."""
