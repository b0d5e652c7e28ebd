"""Prompt templates of the baselines.

They describe the tools with the same lines as agentlab's system prompt and
carry the same worked example (the eggs), so the three architectures differ
in how they use the model, not in what they tell it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.tools import BaseTool

from agentlab.prompts import SEARCH_RULE, describe_tool

FINAL_ANSWER = "final_answer"
"""The pseudo-tool a `react` step names to end the run (smolagents' convention)."""

REACT_SYSTEM = """You are an agent that solves tasks with tools, one tool call at a time.

Tools:
{tools}

Reply with JSON: {{"thought": "...", "action": {{"tool": "...", "args": {{...}}}}}}.
- "thought": one short sentence: what you know so far and what to do next.
- "action": one tool call with the arguments it takes. Its result comes back as an Observation.
- When you know the answer, reply with the action {{"tool": "{final}", "args": {{"answer": "..."}}}}: the value only, e.g. "89".
- Write math with *, /, +, - and ** for powers.{search_rule}
An example task comes first, then yours."""

EXAMPLE_TASK = "A box holds 12 eggs. How many eggs are in 7 boxes plus 5 loose eggs?"
EXAMPLE_TURNS: tuple[tuple[dict[str, Any], str | None], ...] = (
    (
        {
            "thought": "First the eggs in the boxes.",
            "tool": "calculator",
            "args": {"expression": "12*7"},
        },
        "84",
    ),
    (
        {"thought": "Add the 5 loose eggs.", "tool": "calculator", "args": {"expression": "84+5"}},
        "89",
    ),
    (
        {
            "thought": "The boxes and the loose eggs make 89.",
            "tool": FINAL_ANSWER,
            "args": {"answer": "89"},
        },
        None,
    ),
)
"""The worked example as the turns of a run (reply, then observation): shown as chat turns,
not inline text, because inline "Observation:" lines taught the model to write its own
observation inside the action's arguments."""

DIRECT_SYSTEM = """You are an assistant that answers tasks by reasoning step by step, without tools.

Reply with JSON {"reasoning": "...", "answer": "..."}:
- "reasoning": work the task out step by step.
- "answer": the final answer, the value only, e.g. "89".
Example. Task: "A box holds 12 eggs. How many eggs are in 7 boxes plus 5 loose eggs?"
{"reasoning": "7 boxes hold 12*7 = 84 eggs; with the 5 loose eggs that makes 84+5 = 89.", "answer": "89"}"""

DIRECT_CALLS_SYSTEM = """You are an assistant that answers a request with the function calls that fulfil it, without running them.

Functions:
{functions}

Reply with JSON {{"reasoning": "...", "answer": "..."}}:
- "reasoning": work out which function(s) to call and with which arguments.
- "answer": the calls only, in Python syntax, inside a list: [func_name(param=value, other=value)].
- Name every argument; values are literals: numbers, "strings", True/False, lists, dicts.
Example. Functions: - get_weather(city: string, unit?: string): Current weather of a city. Task: "How warm is it in Paris, in celsius?"
{{"reasoning": "get_weather takes the city and the unit.", "answer": "[get_weather(city=\"Paris\", unit=\"celsius\")]"}}"""
"""For a task of declared functions (BFCL): the answer is the calls, in BFCL's prompting
format (`[func(param=value)]`), which `agentlab.baselines.calls` parses."""

TASK = "Task: {task}"
OBSERVATION = "Observation: {output}"


def direct_calls_prompt(functions: Iterable[BaseTool]) -> str:
    return DIRECT_CALLS_SYSTEM.format(functions="\n".join(describe_tool(f) for f in functions))


def react_system_prompt(tools: Iterable[BaseTool]) -> str:
    listed = list(tools)
    return REACT_SYSTEM.format(
        tools="\n".join(describe_tool(t) for t in listed) or "(none)",
        final=FINAL_ANSWER,
        # The same rule as agentlab's planner gets, so the comparison measures the loop.
        search_rule=SEARCH_RULE if any(t.name == "search" for t in listed) else "",
    )


def react_example() -> list[BaseMessage]:
    """The worked example as chat turns, in the form the model's own turns take."""
    messages: list[BaseMessage] = [HumanMessage(content=TASK.format(task=EXAMPLE_TASK))]
    for step, observation in EXAMPLE_TURNS:
        action = {"tool": step["tool"], "args": step["args"]}
        messages.append(
            AIMessage(content=json.dumps({"thought": step["thought"], "action": action}))
        )
        if observation is not None:
            messages.append(HumanMessage(content=OBSERVATION.format(output=observation)))
    return messages
