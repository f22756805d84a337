"""Our Flax text encoders vs the `transformers` PyTorch reference models.

The reference outputs are golden files (`tests/goldens/text`) written by
`python -m tests.goldens.make_text_goldens` from `transformers`' own
BertModel / CLIPTextModelWithProjection / CLIPModel on tiny random
checkpoints saved beside them, and from the real all-MiniLM-L6-v2
(`versions.json` names the torch and transformers that wrote them), so the
comparison needs no PyTorch; where torch is installed, the last test checks
that the script still reproduces them. Tolerances are the issue's (1e-5
relative to the values, cosine 0.9999).
"""

import json
import shutil

import numpy as np
import pytest
from safetensors.numpy import load_file

from nalsuper_jax import text
from nalsuper_jax.text import checkpoint
from tests import goldens
from tests.numerics import assert_close

GOLDENS = goldens.TEXT


@pytest.fixture(scope="module")
def ref():
  return dict(np.load(GOLDENS / "reference.npz"))


def _load(folder, **overrides):
  cfg = text.default_config()
  cfg.checkpoint = str(folder)
  cfg.update(overrides)
  return text.load_text_encoder(cfg)


def _clip(folder):
  """Our CLIP text encoder on a Hugging Face folder, sentence not normalised."""
  ours = text.TextEncoder("clip", text.encoder.clip.CLIPTextConfig.from_hf(
      json.loads((folder / "config.json").read_text())), normalize_sentence=False)
  return ours, {"clip": text.encoder.clip.params_from_hf(checkpoint.read_tensors(folder),
                                                         ours.config)}


def test_bert_matches_transformers(ref):
  ours = _load(GOLDENS / "tiny_bert", normalize_sentence=False)
  ids, mask = ref["bert_ids"], ref["bert_mask"]
  feats = ours.module.apply({"params": ours.params}, ids, mask)
  m = mask[..., None]
  assert_close(np.where(m, feats.words, 0), np.where(m, ref["bert_words"], 0))
  ref_sentence = (ref["bert_words"] * m).sum(1) / m.sum(1)
  assert_close(feats.sentence, ref_sentence)


@pytest.mark.parametrize("eos", [98, 2])
def test_clip_matches_transformers(ref, tmp_path, eos):
  folder = GOLDENS / "tiny_clip"
  if eos == 2:  # legacy configs: EOS is found by argmax of the ids
    cfg = json.loads((folder / "config.json").read_text())
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    (legacy / "config.json").write_text(json.dumps(cfg | {"eos_token_id": 2}))
    shutil.copy(folder / "model.safetensors", legacy)
    folder = legacy
  ours, params = _clip(folder)
  ids, mask = ref["clip_ids"], ref["clip_mask"]
  feats = ours.apply({"params": params}, ids, mask)
  m = mask[..., None]
  assert_close(np.where(m, feats.words, 0), np.where(m, ref[f"clip_words_eos{eos}"], 0))
  assert_close(feats.sentence, ref[f"clip_sentence_eos{eos}"])


def test_clip_full_model_checkpoint_loads(ref):
  """A full CLIPModel folder (text + vision, nested text_config) loads too."""
  ours, params = _clip(GOLDENS / "clip_full")
  feats = ours.apply({"params": params}, ref["clip_full_ids"], ref["clip_full_mask"])
  assert_close(feats.sentence, ref["clip_full_sentence"])


def test_minilm_sentence_embeddings_match_pytorch(minilm, ref):
  """Real all-MiniLM-L6-v2: masked mean + L2 norm, as sentence-transformers;
  our tokenizer gives the reference tokenizer's ids."""
  sentences = json.loads((GOLDENS / "versions.json").read_text())["minilm_sentences"]
  ids, mask = minilm.tokenizer(sentences)
  np.testing.assert_array_equal(ids, ref["minilm_ids"])
  np.testing.assert_array_equal(mask, ref["minilm_mask"])
  ours = np.asarray(minilm.encode(sentences).sentence)
  want = ref["minilm_sentence"]
  cosine = (ours * want).sum(-1) / np.linalg.norm(ours, axis=-1) / np.linalg.norm(want, axis=-1)
  assert cosine.min() >= 0.9999, cosine
  np.testing.assert_allclose(np.linalg.norm(ours, axis=-1), 1.0, atol=1e-5)


def test_the_goldens_are_what_the_pytorch_reference_gives(tmp_path):
  """Rewrites every golden file with torch and compares: the checkpoints'
  tensors and configs, and the reference outputs (up to float rounding,
  which differs between CPUs)."""
  pytest.importorskip("torch", reason="torch writes the goldens (a Python 3.11 venv "
                      "here: tests/goldens/make_text_goldens.py)")
  # Deferred: the golden writer imports torch, which only its own venv has.
  from tests.goldens import make_text_goldens  # pylint: disable=import-outside-toplevel
  fresh = make_text_goldens.write(tmp_path)
  for stored in sorted(GOLDENS.rglob("*")):
    name = stored.relative_to(GOLDENS)
    if stored.suffix == ".safetensors":
      a, b = load_file(stored), load_file(fresh / name)
      assert a.keys() == b.keys(), name
      for key in a:
        assert_close(b[key], a[key], err_msg=f"{name}:{key}")
    elif stored.suffix == ".json" and name.name != "versions.json":
      unversioned = lambda path: {k: v for k, v in json.loads(path.read_text()).items()
                                  if k != "transformers_version"}
      assert unversioned(fresh / name) == unversioned(stored), name
  want, got = np.load(GOLDENS / "reference.npz"), np.load(fresh / "reference.npz")
  assert sorted(want.files) == sorted(got.files)
  for key in want.files:
    assert_close(got[key], want[key], err_msg=key)
