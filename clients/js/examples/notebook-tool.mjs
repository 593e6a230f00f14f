// airlock as a "python notebook" tool for an agent framework: one code context (a live
// interpreter) per conversation, so that variables and imports persist between the model's
// calls, and plots come back as images. The result is in the shape of Anthropic's tool_result
// content (text and base64 image blocks); other frameworks take the same two parts.
//   node examples/notebook-tool.mjs 'x = 6' 'x * 7'
import { Client, AirlockError, images, resultText } from "@airlock/client";

export const notebookTool = {
  name: "python",
  description: "Run Python in a persistent notebook: variables, imports and files stay between calls. The value of the last line is returned, plots as images.",
  input_schema: { type: "object", properties: { code: { type: "string" } }, required: ["code"] },
};

const client = new Client({ agent: "assistant" });
const contexts = new Map(); // conversation -> context

export async function runNotebook({ code }, conversationId = "conv-1") {
  try {
    if (!contexts.has(conversationId)) {
      contexts.set(conversationId, await client.createContext("python", { session: conversationId }));
    }
    // The policy's time limit applies: past it the cell is interrupted, the state kept.
    const r = await client.runInContext(contexts.get(conversationId), code);
    let text = r.stdout + (r.stderr ? `\n[stderr]\n${r.stderr}` : "");
    const value = resultText(r);
    if (value !== undefined) text += `${text && !text.endsWith("\n") ? "\n" : ""}${value}`;
    if (r.context?.error) text += `\n${r.context.error.traceback || `${r.context.error.name}: ${r.context.error.value}`}`;
    if (r.timed_out) text += "\n[interrupted at the time limit; the state is kept]";
    return [{ type: "text", text },
      ...images(r).map((i) => ({ type: "image", source: { type: "base64", media_type: i.mime, data: i.data.toString("base64") } }))];
  } catch (e) {
    if (e instanceof AirlockError) return [{ type: "text", text: `error (${e.code}): ${e.message}` }];
    throw e;
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const code of process.argv.slice(2)) {
    for (const block of await runNotebook({ code })) {
      console.log(block.type === "text" ? block.text : `[image ${block.source.media_type}]`);
    }
  }
  await client.endSession("conv-1");
}
