"""Model backends and the machinery around a model call.

Public: `resolve_model`, `ReplayChatModel`, `CassetteRecorder`. The rest
(`caller`, `parsing`) is used by the graph's nodes.
"""

from agentlab.llm.recording import CassetteRecorder
from agentlab.llm.replay import ReplayChatModel, load_cassette
from agentlab.llm.spec import ResolvedModel, default_model_spec, resolve_model

__all__ = [
    "CassetteRecorder",
    "ReplayChatModel",
    "ResolvedModel",
    "default_model_spec",
    "load_cassette",
    "resolve_model",
]
