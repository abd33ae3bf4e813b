"""Counts and shows the texts where parity_driver and hf_encode.js disagree."""
import json, sys

ours = [json.loads(l) for l in open(sys.argv[1], encoding='utf-8')]
theirs = [json.loads(l) for l in open(sys.argv[2], encoding='utf-8')]
texts = [json.loads(l)['text'] for l in open(sys.argv[3], encoding='utf-8')]
ids_differ = decoding_differs = 0
for us, hf, text in zip(ours, theirs, texts):
    if us.get('ids') != hf['ids']:
        ids_differ += 1
        if ids_differ <= 5:
            print('  ids differ for', repr(text)[:100], '\n    hf ', hf['ids'][:30], '\n    us ', us.get('ids', us.get('error')))
    elif (us['decoded'], us['decoded_skip']) != (hf['decoded'], hf['decoded_skip']):
        decoding_differs += 1
        if decoding_differs <= 5:
            print('  decoding differs for', repr(text)[:100], '\n    hf ', repr(hf['decoded'])[:100], '\n    us ', repr(us['decoded'])[:100])
print(f'{sys.argv[4]}: {len(texts)} texts, {ids_differ} id differences, {decoding_differs} decoding differences')
sys.exit(1 if ids_differ or decoding_differs else 0)
