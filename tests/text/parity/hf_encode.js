// The reference side of parity.sh: Hugging Face tokenizers (npm package `tokenizers`, the Rust
// library through Node bindings) encoding and decoding each text.
// usage: node hf_encode.js TOKENIZER.json TEXTS.jsonl OUT.jsonl ADD_SPECIAL(0|1)
const { Tokenizer } = require('tokenizers');
const fs = require('fs');
const [file, input, output, special] = process.argv.slice(2);
const tokenizer = Tokenizer.fromFile(file);
const texts = fs.readFileSync(input, 'utf8').split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l).text);
(async () => {
  const lines = [];
  for (let i = 0; i < texts.length; ++i) {
    const ids = Array.from((await tokenizer.encode(texts[i], null, { addSpecialTokens: special === '1' })).getIds());
    lines.push(JSON.stringify({
      index: i, ids, decoded: await tokenizer.decode(ids, false), decoded_skip: await tokenizer.decode(ids, true),
    }));
  }
  fs.writeFileSync(output, lines.join('\n') + '\n');
})();
