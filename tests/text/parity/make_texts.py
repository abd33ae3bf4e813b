"""Texts for parity.sh: every text of the shared reference cases and fixtures, plus seeded random
mixes of the characters tokenizers disagree on (whitespace kinds, controls, marks, scripts, emoji
sequences, special-token strings, long words)."""
import glob, json, random, sys

shared, seed, out_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
random.seed(seed)
texts = []
for path in glob.glob(shared + '/tokenizers/*/cases.jsonl'):
    for line in open(path, encoding='utf-8'):
        case = json.loads(line)
        texts.append(case['text'])
        if 'text_pair' in case:
            texts.append(case['text_pair'])
for path in glob.glob(shared + '/fixtures/*/expected.json'):
    for case in json.load(open(path, encoding='utf-8'))['cases']:
        texts += [case['input_text'], case['text']]
pieces = [' ', ' ', '  ', '\t', '\n', '\r\n', '\r', '\u00a0', '\u3000', '\u2028', '\u0085', '\u000b', '\u000c',
          '\u001c', '\u200b', '\u200c', '\u200d', '\ufeff', '\u00ad', 'hello', 'World', 'HELLO', "don't", "I'M",
          "we'Ll", "'s", "'", "''", 'a', 'x', '_', 'foo_bar', '123', '4', '\u0663', '\u00bd', '\u00b2', '\u216b',
          '\uff11\uff12', '3.14', '1,000', '$', '\u20ac', '\u00a5', '%', '!!!', '?', '...', '\u2026', '\u2014', '-',
          '(', ')', '[', ']', '{', '}', '<', '>', '@', '#', '^', '`', '|', '~', '\\', '/', '"', '\u00ab', '\u00bb',
          '\u00bf', '\u00a1', 'caf\u00e9', 'na\u00efve', 'F\u00fchrer', 'e\u0301', 'A\u030a', '\u0130stanbul',
          '\u03a3\u038a\u03a3\u03a5\u03a6\u039f\u03a3', '\u00df', '\ufb01', '\uff46\uff55\uff4c\uff4c', '\uff5e',
          '\u6771\u4eac', '\u4e2d\u6587\u5b57', '\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8', '\ud55c\uad6d\uc5b4',
          '\u0e20\u0e32\u0e29\u0e32\u0e44\u0e17\u0e22', '\u0939\u093f\u0928\u094d\u0926\u0940', '\u0627\u0644\u0639\u0631\u0628\u064a\u0629',
          '\u1781\u17d2\u1798\u17c2\u179a', '\u0440\u0443\u0441\u0441\u043a\u0438\u0439', '\U0001F600', '\U0001F44D\U0001F3FD',
          '\U0001F468\u200d\U0001F469\u200d\U0001F467', '\u2764\ufe0f', '\U0001F999', '\x00', '\x01', '\x7f', '\ufffd',
          '\u0300', '\u20dd', '[CLS]', '[SEP]', '[UNK]', '[MASK]', '<|endoftext|>', '<s>', '</s>', '<unk>',
          'supercalifragilisticexpialidocious', 'x' * 120, 'https://example.com/a?b=c', 'user@example.org']
for _ in range(1500):
    texts.append(''.join(random.choice(pieces) + (' ' if random.random() < 0.3 else '')
                         for _ in range(random.randint(0, 14))))
seen = set()
with open(out_path, 'w', encoding='utf-8') as out:
    for text in texts:
        if text not in seen:
            seen.add(text)
            out.write(json.dumps({'text': text}, ensure_ascii=False) + '\n')
