"""Writes the text encoders' golden files from the PyTorch reference.

  python -m tests.goldens.make_text_goldens [--out tests/goldens/text]

Needs `torch` and `transformers`; the tests that read the files do not. On
this project's machine kind the CPU torch wheel on disk is for Python 3.11
(`make` builds a 3.12 venv), so: a Python 3.11 venv, `pip install
torch==2.13.0 -e .` (jax 0.10.2 there), then this script. It saves tiny random
Hugging Face checkpoints (BERT, CLIP text, a full CLIP with a vision tower,
and a CLIP text model with a real BPE tokenizer), and in `reference.npz` the
outputs that `transformers`' own PyTorch models give on fixed token ids, plus
the real all-MiniLM-L6-v2's sentence embeddings (masked mean, L2 norm, as
sentence-transformers). `versions.json` records what produced them.
`tests/text_parity_test.py` compares our Flax encoders with these outputs and,
where torch is installed, checks that this script still reproduces them.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import shutil
import tempfile

import numpy as np
import torch
import transformers

from nalsuper_jax import text
from nalsuper_jax.text import checkpoint
from tests import goldens
MINILM_SENTENCES = ["a bright photo of a cat on a sofa", "a dark, noisy street at night",
                    "well-exposed, neutral white balance, vivid colours, green and blue",
                    "low-light image"]
CLIP_EOS = 98          # the tiny CLIP's end-of-text id
LEGACY_EOS = 2         # configs before `eos_token_id`: EOS is the largest id


def ids_and_mask(seed: int, batch: int, length: int, vocab: int, lengths, eos=None):
  """Random ids, the first `lengths[b]` tokens valid; CLIP pads with EOS."""
  rng = np.random.default_rng(seed)
  ids = rng.integers(3, vocab - 1, size=(batch, length))
  mask = np.zeros((batch, length), bool)
  for b, n in enumerate(lengths):
    mask[b, :n] = True
    if eos is not None:
      ids[b, n - 1] = eos
      ids[b, n:] = eos
  return ids.astype(np.int32), mask


def _run(model, ids, mask):
  with torch.no_grad():
    return model(input_ids=torch.tensor(ids, dtype=torch.long),
                 attention_mask=torch.tensor(mask, dtype=torch.long))


def tiny_bert(folder: pathlib.Path, ref: dict) -> None:
  torch.manual_seed(0)
  cfg = transformers.BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2,
                                num_attention_heads=4, intermediate_size=37,
                                max_position_embeddings=64)
  model = transformers.BertModel(cfg, add_pooling_layer=False).eval()
  model.save_pretrained(str(folder), safe_serialization=True)
  vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(94)]
  (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
  ids, mask = ids_and_mask(0, 3, 16, 99, [16, 9, 4])
  ref |= {"bert_ids": ids, "bert_mask": mask,
          "bert_words": _run(model, ids, mask).last_hidden_state.numpy()}


def tiny_clip(folder: pathlib.Path, ref: dict) -> None:
  """CLIPTextModelWithProjection, scored with its config's EOS id and, from
  the same weights, with a legacy config whose EOS is found by argmax."""
  torch.manual_seed(0)
  cfg = transformers.CLIPTextConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2,
                                    num_attention_heads=4, intermediate_size=37,
                                    projection_dim=24, max_position_embeddings=40,
                                    eos_token_id=CLIP_EOS)
  model = transformers.CLIPTextModelWithProjection(cfg).eval()
  model.save_pretrained(str(folder), safe_serialization=True)
  ids, mask = ids_and_mask(1, 3, 12, 98, [12, 7, 3], eos=CLIP_EOS)
  ref |= {"clip_ids": ids, "clip_mask": mask}
  with tempfile.TemporaryDirectory() as legacy:
    config = json.loads((folder / "config.json").read_text())
    (pathlib.Path(legacy) / "config.json").write_text(json.dumps(
        config | {"eos_token_id": LEGACY_EOS}))
    shutil.copy(folder / "model.safetensors", legacy)
    for eos, m in ((CLIP_EOS, model), (LEGACY_EOS, transformers.CLIPTextModelWithProjection
                                       .from_pretrained(legacy).eval())):
      out = _run(m, ids, mask)
      ref |= {f"clip_words_eos{eos}": out.last_hidden_state.numpy(),
              f"clip_sentence_eos{eos}": out.text_embeds.numpy()}


def clip_full(folder: pathlib.Path, ref: dict) -> None:
  """A full CLIPModel (text + vision towers, nested text_config)."""
  torch.manual_seed(0)
  cfg = transformers.CLIPConfig(
      text_config=dict(vocab_size=99, hidden_size=32, num_hidden_layers=1,
                       num_attention_heads=4, intermediate_size=37,
                       max_position_embeddings=40, eos_token_id=CLIP_EOS),
      vision_config=dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
                         intermediate_size=37, image_size=32, patch_size=16),
      projection_dim=16)
  model = transformers.CLIPModel(cfg).eval()
  model.save_pretrained(str(folder), safe_serialization=True)
  ids, mask = ids_and_mask(2, 2, 10, 98, [10, 5], eos=CLIP_EOS)
  with torch.no_grad():
    out = model.get_text_features(input_ids=torch.tensor(ids, dtype=torch.long),
                                  attention_mask=torch.tensor(mask, dtype=torch.long))
  ref |= {"clip_full_ids": ids, "clip_full_mask": mask,
          "clip_full_sentence": np.asarray(getattr(out, "pooler_output", out))}


def clip_with_tokenizer(folder: pathlib.Path) -> None:
  """A CLIP text model with a real (tiny) BPE tokenizer: letters, "th", "the"."""
  letters = list("abcdefghijklmnopqrstuvwxyz")
  vocab = {}
  for t in ["<|startoftext|>", "<|endoftext|>"] + letters + [l + "</w>" for l in letters]:
    vocab[t] = len(vocab)
  for t in ["th", "the</w>"]:
    vocab[t] = len(vocab)
  transformers.CLIPTokenizer(vocab=vocab, merges=[("t", "h"), ("th", "e</w>")]
                             ).save_pretrained(str(folder))
  torch.manual_seed(0)
  cfg = transformers.CLIPTextConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=1,
                                    num_attention_heads=4, intermediate_size=37,
                                    projection_dim=16, max_position_embeddings=20,
                                    eos_token_id=vocab["<|endoftext|>"])
  transformers.CLIPTextModelWithProjection(cfg).save_pretrained(str(folder))


def minilm(ref: dict) -> None:
  folder = checkpoint.resolve(text.BUILTIN_MINILM)
  tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder))
  tokens = tokenizer(MINILM_SENTENCES, padding="max_length", truncation=True,
                     max_length=int(text.default_config().max_len))
  ids = np.asarray(tokens["input_ids"], np.int32)
  mask = np.asarray(tokens["attention_mask"], bool)
  model = transformers.BertModel.from_pretrained(str(folder), add_pooling_layer=False).eval()
  hidden = _run(model, ids, mask).last_hidden_state
  m = torch.tensor(mask, dtype=torch.float32)[..., None]
  ref |= {"minilm_ids": ids, "minilm_mask": mask, "minilm_sentence": torch.nn.functional.normalize(
      (hidden * m).sum(1) / m.sum(1), dim=-1).numpy()}


def write(out: pathlib.Path) -> pathlib.Path:
  """Every golden file under `out`; returns it."""
  ref: dict[str, np.ndarray] = {}
  for name, make in (("tiny_bert", tiny_bert), ("tiny_clip", tiny_clip),
                     ("clip_full", clip_full)):
    (out / name).mkdir(parents=True, exist_ok=True)
    make(out / name, ref)
  (out / "clip_tokenizer").mkdir(parents=True, exist_ok=True)
  clip_with_tokenizer(out / "clip_tokenizer")
  minilm(ref)
  np.savez_compressed(out / "reference.npz", **ref)
  (out / "versions.json").write_text(json.dumps(
      {"torch": torch.__version__, "transformers": transformers.__version__,
       "minilm_sentences": MINILM_SENTENCES}, indent=1) + "\n")
  return out


if __name__ == "__main__":
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--out", default=str(goldens.TEXT))
  print(f"wrote {write(pathlib.Path(p.parse_args().out))}")
