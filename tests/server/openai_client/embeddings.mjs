// The official `openai` npm package against memembed serve: embeddings.create as any OpenAI client
// calls it (the package asks for base64 by default and decodes it), compared with float output.
import OpenAI from "openai";

const [baseURL, apiKey] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0 });
const texts = ["The cat sat on the mat.", "Agents remember what users told them."];

const defaults = await client.embeddings.create({ model: "any", input: texts });
const floats = await client.embeddings.create({ model: "any", input: texts, encoding_format: "float" });
const short = await client.embeddings.create({ model: "any", input: texts[0], dimensions: 32 });

const fail = (message) => { console.error("FAIL: " + message); process.exit(1); };
if (defaults.data.length !== 2 || floats.data.length !== 2) fail("expected two embeddings");
for (let i = 0; i < 2; i++) {
  const a = defaults.data[i].embedding, b = floats.data[i].embedding;
  if (a.length !== b.length) fail(`length ${a.length} != ${b.length}`);
  for (let d = 0; d < a.length; d++) if (Math.abs(a[d] - b[d]) > 1e-7) fail(`value ${i}/${d} differs`);
}
if (short.data[0].embedding.length !== 32) fail("dimensions: 32 not honoured");
if (!(defaults.usage.prompt_tokens > 0)) fail("no usage");
try {
  await client.embeddings.create({ model: "any", input: [] });
  fail("an empty input was accepted");
} catch (error) {
  if (!(error instanceof OpenAI.BadRequestError)) fail("expected BadRequestError, got " + error);
}
console.log(`ok: ${defaults.data[0].embedding.length} dims, model ${defaults.model}, ${defaults.usage.prompt_tokens} tokens`);
