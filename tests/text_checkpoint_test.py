"""Finding checkpoints, tokenizers, and the errors users see when it fails."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import transformers  # the reference tokenizer (AutoTokenizer needs no torch)

from nalsuper_jax import text
from nalsuper_jax.text import checkpoint
from nalsuper_jax.text import tokenizer as tokenization
from tests import goldens


def _tiny_clip_folder(folder):
  """A CLIP text checkpoint plus a real (tiny) CLIP BPE tokenizer, copied from
  the goldens (`make_text_goldens.clip_with_tokenizer`; <|endoftext|> is id 1)."""
  shutil.copytree(goldens.TEXT / "clip_tokenizer", folder, dirs_exist_ok=True)
  return folder


def _cfg(spec, **kw):
  cfg = text.default_config()
  cfg.checkpoint = str(spec)
  cfg.update(kw)
  return cfg


def test_clip_folder_with_tokenizer_encodes_strings(tmp_path):
  loaded = text.load_text_encoder(_cfg(_tiny_clip_folder(tmp_path), max_len=10))
  ids, mask = loaded.tokenizer(["the cat", "a"])
  assert ids.shape == (2, 10) and ids.dtype == np.int32
  np.testing.assert_array_equal(mask.sum(1), [6, 3])  # <s> the c a t </s>; <s> a </s>
  assert ids[0, 5] == 1  # <|endoftext|> in _tiny_clip_folder's vocabulary
  feats = loaded.encode(["the cat", "a"])
  assert feats.words.shape == (2, 10, 32) and feats.sentence.shape == (2, 16)
  np.testing.assert_allclose(np.linalg.norm(feats.sentence, axis=-1), 1.0, atol=1e-5)
  assert loaded.sentence_dim == 16


def test_truncation_keeps_fixed_length(minilm):
  ids, mask = minilm.tokenizer(["word " * 100])
  assert ids.shape == (1, minilm.tokenizer.max_len) and mask.all()


_SENTENCES = ["the cat", "a", "", "The  CAT, sat!", "\u00dcn\u00efcode \u00e7a \u00e9t\u00e9",
              "word " * 40, "x" * 60, "a bright, well-exposed photo of a red house at dusk",
              "the the the the the the the the the the the the"]


@pytest.mark.parametrize("which", ["clip", "minilm"])
def test_tokenizer_json_is_read_without_transformers_with_its_ids(which, minilm, tmp_path):
  """The Rust fast path (tokenizer.json, no transformers import) against
  transformers.AutoTokenizer on the same folder: same ids, masks and lengths,
  padded and truncated at two lengths; a slow-only folder still loads."""
  folder = (_tiny_clip_folder(tmp_path) if which == "clip"
            else checkpoint.resolve(text.default_config().checkpoint))
  auto = transformers.AutoTokenizer.from_pretrained(str(folder))
  for max_len in (6, 16):
    fast = tokenization.Tokenizer.from_folder(folder, max_len)
    assert isinstance(fast.backend, tokenization._Rust)  # pylint: disable=protected-access
    ids, mask = fast(_SENTENCES)
    ref = auto(_SENTENCES, padding="max_length", truncation=True, max_length=max_len)
    np.testing.assert_array_equal(ids, ref["input_ids"])
    np.testing.assert_array_equal(mask, np.asarray(ref["attention_mask"], bool))
    assert [fast.length(s) for s in _SENTENCES] == [len(auto(s)["input_ids"])
                                                    for s in _SENTENCES]
  # What it saves (e.g. into an exported bundle) reads back to the same ids.
  fast.save_pretrained(tmp_path / "saved")
  again = transformers.AutoTokenizer.from_pretrained(str(tmp_path / "saved"))
  assert again(_SENTENCES)["input_ids"] == auto(_SENTENCES)["input_ids"]
  if which == "minilm":  # without tokenizer.json, transformers converts vocab.txt
    slow = tmp_path / "slow"
    slow.mkdir()
    for name in ("vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
      (slow / name).write_bytes((folder / name).read_bytes())
    converted = tokenization.Tokenizer.from_folder(slow, 16)
    assert isinstance(converted.backend, tokenization._Transformers)  # pylint: disable=protected-access
    np.testing.assert_array_equal(converted(_SENTENCES)[0], ids)


def test_offline_hub_id_says_what_to_pass():
  with pytest.raises(text.CheckpointError, match=r"openai/clip-vit-base-patch32.*local folder"):
    checkpoint.resolve("openai/clip-vit-base-patch32")


def test_unreachable_hub_is_a_clear_error():
  """Online mode, but the hub cannot be reached: same actionable error."""
  env = dict(os.environ, HF_HUB_OFFLINE="0", HF_ENDPOINT="http://127.0.0.1:9",
             HF_HUB_ETAG_TIMEOUT="2", HF_HUB_DOWNLOAD_TIMEOUT="2")
  code = ("from nalsuper_jax.text import checkpoint\n"
          "try:\n  checkpoint.resolve('someone/some-clip')\n"
          "except checkpoint.CheckpointError as e:\n  print('ERROR', e)\n")
  out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                       text=True, timeout=120)
  assert "ERROR cannot fetch 'someone/some-clip'" in out.stdout, out.stdout + out.stderr
  assert "local folder" in out.stdout


def test_missing_and_incomplete_folders(tmp_path):
  with pytest.raises(text.CheckpointError, match="no such folder"):
    checkpoint.resolve(str(tmp_path / "nope"))
  (tmp_path / "config.json").write_text("{}")
  with pytest.raises(text.CheckpointError, match="no model.safetensors"):
    checkpoint.resolve(str(tmp_path))
  (tmp_path / "model.safetensors").write_bytes(b"garbage")
  (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
  with pytest.raises(text.CheckpointError, match="model_type='gpt2'"):
    text.load_text_encoder(_cfg(tmp_path))


def test_tensor_shape_mismatch_names_the_tensor(tmp_path):
  folder = _tiny_clip_folder(tmp_path)
  cfg = json.loads((folder / "config.json").read_text())
  cfg["intermediate_size"] = 40
  (folder / "config.json").write_text(json.dumps(cfg))
  with pytest.raises(text.CheckpointError, match=r"fc1.*bias.*\(37,\).*\(40,\)"):
    text.load_text_encoder(_cfg(folder))
