"""airlock as a "python notebook" tool for an agent framework: one code context (a live
interpreter) per conversation, so that variables and imports persist between the model's calls,
and plots come back as images. The result is in the shape of Anthropic's tool_result content
(text and base64 image blocks); other frameworks take the same two parts.

    python3 notebook_tool.py 'x = 6' 'x * 7'
"""
import base64
import sys

from airlock_client import AirlockError, Client

TOOL_SCHEMA = {
    "name": "python",
    "description": "Run Python in a persistent notebook: variables, imports and files stay "
                   "between calls. The value of the last line is returned, plots as images.",
    "input_schema": {"type": "object", "properties": {"code": {"type": "string"}},
                     "required": ["code"]},
}

client = Client(agent="assistant")
contexts = {}  # conversation -> context


def notebook_tool(arguments: dict, conversation_id: str = "conv-1") -> list:
    try:
        if conversation_id not in contexts:
            contexts[conversation_id] = client.create_context("python", session=conversation_id)
        # The policy's time limit applies: past it the cell is interrupted, the state kept.
        r = client.run_in_context(contexts[conversation_id], arguments["code"])
    except AirlockError as e:  # refused by the policy, rate limited, engine down ...
        return [{"type": "text", "text": f"error ({e.code}): {e.message}"}]
    text = r.stdout + (f"\n[stderr]\n{r.stderr}" if r.stderr else "")
    if r.text is not None:
        text += ("\n" if text and not text.endswith("\n") else "") + r.text
    if r.context and r.context.error:
        e = r.context.error
        text += "\n" + (e.get("traceback") or f"{e.get('name')}: {e.get('value')}")
    if r.timed_out:
        text += "\n[interrupted at the time limit; the state is kept]"
    return [{"type": "text", "text": text}] + [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                     "data": base64.b64encode(png).decode()}}
        for png in r.images()]


if __name__ == "__main__":
    for code in sys.argv[1:] or ["x = 6", "x * 7"]:
        for block in notebook_tool({"code": code}):
            print(block["text"] if block["type"] == "text" else "[image]")
    client.end_session("conv-1")
