"""agentlab: an agent framework on a LangGraph state graph."""

__version__ = "0.1.0"
