// airlock as an agent framework's "run code" tool (the Vercel AI SDK, LangChain.js, OpenAI's
// or Anthropic's tool calling all take a JSON schema and a function returning text).
//   node examples/run-code-tool.mjs 'console.log(6*7)'
import { Client, AirlockError } from "@airlock/client";

export const runCodeTool = {
  name: "run_code",
  description: "Run code in a locked-down sandbox and return its output. Files persist between calls of one conversation.",
  inputSchema: {
    type: "object",
    properties: { language: { type: "string", enum: ["python", "node", "bash"] }, code: { type: "string" } },
    required: ["language", "code"],
  },
};

const client = new Client({ agent: "assistant" });

export async function runCode({ language, code }, conversationId = "conv-1") {
  try {
    const r = await client.runCode(code, language, { session: conversationId });
    let text = r.stdout + (r.stderr ? `\n[stderr]\n${r.stderr}` : "");
    if (r.timed_out) text += "\n[timed out]";
    else if (r.oom_killed) text += "\n[killed: out of memory]";
    else if (r.exit_code) text += `\n[exit code ${r.exit_code}]`;
    return text;
  } catch (e) {
    if (e instanceof AirlockError) return `error (${e.code}): ${e.message}`;
    throw e;
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(await runCode({ language: "node", code: process.argv[2] ?? "console.log(6*7)" }));
  await client.endSession("conv-1");
}
