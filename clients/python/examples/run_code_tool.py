"""airlock as an agent framework's "run code" tool.

Most frameworks (OpenAI and Anthropic tool calling, LangChain, smolagents, ...) take a tool as
a JSON schema plus a function that gets the model's arguments and returns text for the model.
This is that pair; hand TOOL_SCHEMA to the framework and call run_code_tool with the arguments
of each call. One session per conversation keeps files and installed packages between calls.

    python3 run_code_tool.py 'print(sum(range(10)))'
"""
import sys

from airlock_client import AirlockError, Client

TOOL_SCHEMA = {
    "name": "run_code",
    "description": "Run code in a locked-down sandbox and return its output. Files persist "
                   "between calls of the same conversation.",
    "input_schema": {
        "type": "object",
        "properties": {
            "language": {"type": "string", "enum": ["python", "node", "bash"]},
            "code": {"type": "string"},
        },
        "required": ["language", "code"],
    },
}

client = Client(agent="assistant")


def run_code_tool(arguments: dict, conversation_id: str = "conv-1") -> str:
    """What the model reads: the output, and how the run ended when it did not end well."""
    try:
        r = client.run_code(arguments["code"], language=arguments.get("language", "python"),
                            session=conversation_id)  # the policy's time limit applies
    except AirlockError as e:  # refused by the policy, rate limited, engine down ...
        return f"error ({e.code}): {e.message}"
    text = r.stdout + (f"\n[stderr]\n{r.stderr}" if r.stderr else "")
    if r.timed_out:
        text += "\n[timed out]"
    elif r.oom_killed:
        text += "\n[killed: out of memory]"
    elif r.exit_code:
        text += f"\n[exit code {r.exit_code}]"
    return text


if __name__ == "__main__":
    print(run_code_tool({"language": "python", "code": sys.argv[1] if len(sys.argv) > 1
                         else "print(6*7)"}))
    client.end_session("conv-1")
