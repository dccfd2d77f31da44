"""Chat data for the PyTorch reference scripts, encoded the way `svdtune data` encodes it.

`encode_file(tokenizer, path)` reads an OpenAI `messages` JSON Lines file and returns, per record,
`{"input_ids": [...], "loss_mask": [...]}`: the conversation rendered once with the model's chat
template (`add_generation_prompt=False`), tokenized without added special tokens (the template holds
them), and a 0/1 mask that trains every assistant turn from where
`render(messages[:i], add_generation_prompt=True)` stops matching the full text to where
`render(messages[:i + 1])` stops matching it; a token is trained when its first character lies in
such a span. `quality.py` checks the result against `svdtune data --dump` token for token.

`batches(examples, batch_size, seq_len, pad_id, ...)` cuts examples to `seq_len` and groups them
into padded batches: `input_ids` [B, L], `attention_mask` [B, L], `labels` [B, L] (-100 where the
token is not trained or is padding; transformers shifts labels by one inside the model, so token t
is scored on predicting token t+1 with the mask bit of t+1, as in `svdtune eval`).
"""

import json

import torch


def read_jsonl(path):
    """The records of a JSON Lines file (blank lines skipped)."""
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _common_prefix(a, b):
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def render(tokenizer, messages, add_generation_prompt):
    return tokenizer.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=add_generation_prompt
    )


def encode_messages(tokenizer, messages):
    """One conversation → {"input_ids", "loss_mask"} (assistant turns trained)."""
    full = render(tokenizer, messages, False)
    spans = []
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        start = _common_prefix(render(tokenizer, messages[:i], True), full) if i > 0 else 0
        end = _common_prefix(render(tokenizer, messages[: i + 1], False), full)
        spans.append((start, end))
    enc = tokenizer(full, add_special_tokens=False, return_offsets_mapping=True)
    mask = [
        1 if any(a <= s < b for a, b in spans) else 0 for s, _ in enc["offset_mapping"]
    ]
    return {"input_ids": list(enc["input_ids"]), "loss_mask": mask}


def encode_file(tokenizer, path):
    return [encode_messages(tokenizer, r["messages"]) for r in read_jsonl(path)]


def batches(examples, batch_size, seq_len, pad_id, pad_to_seq_len=False):
    """Consecutive groups of `batch_size` examples (the last one may be smaller), each cut to
    `seq_len` and right-padded to the longest in the group (or to `seq_len`)."""
    out = []
    for i in range(0, len(examples), batch_size):
        group = [
            (e["input_ids"][:seq_len], e["loss_mask"][:seq_len])
            for e in examples[i : i + batch_size]
        ]
        width = seq_len if pad_to_seq_len else max(len(ids) for ids, _ in group)
        ids = torch.full((len(group), width), pad_id, dtype=torch.long)
        att = torch.zeros((len(group), width), dtype=torch.long)
        labels = torch.full((len(group), width), -100, dtype=torch.long)
        for r, (t, m) in enumerate(group):
            ids[r, : len(t)] = torch.tensor(t)
            att[r, : len(t)] = 1
            lab = torch.tensor(t)
            lab[torch.tensor(m) == 0] = -100
            labels[r, : len(t)] = lab
        out.append({"input_ids": ids, "attention_mask": att, "labels": labels})
    return out
