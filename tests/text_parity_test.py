"""Our Flax text encoders vs the `transformers` PyTorch reference models.

The reference is `transformers`' own BertModel / CLIPTextModelWithProjection
run on the same weights; tolerances are the issue's (1e-5 abs, cosine 0.9999).
"""

import json

import numpy as np
import pytest

torch = pytest.importorskip(
    "torch", reason="torch (test-only, `pip install torch==2.13.0`) is needed "
    "for the PyTorch reference")
transformers = pytest.importorskip("transformers")

from nalsuper_jax import text  # noqa: E402
from nalsuper_jax.text import checkpoint  # noqa: E402
from tests.numerics import assert_close  # noqa: E402


def _ids_and_mask(rng, batch, length, vocab, lengths, eos=None):
  ids = rng.integers(3, vocab - 1, size=(batch, length))
  mask = np.zeros((batch, length), bool)
  for b, n in enumerate(lengths):
    mask[b, :n] = True
    if eos is not None:
      ids[b, n - 1] = eos
      ids[b, n:] = eos  # CLIP pads with the EOS token
  return ids.astype(np.int32), mask


def _load(folder, **overrides):
  cfg = text.default_config()
  cfg.checkpoint = str(folder)
  cfg.update(overrides)
  return text.load_text_encoder(cfg)


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
  torch.manual_seed(0)
  cfg = transformers.BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2,
                                num_attention_heads=4, intermediate_size=37,
                                max_position_embeddings=64)
  model = transformers.BertModel(cfg, add_pooling_layer=False).eval()
  folder = tmp_path_factory.mktemp("tiny_bert")
  model.save_pretrained(str(folder), safe_serialization=True)
  vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(94)]
  (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
  return model, folder


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
  torch.manual_seed(0)
  cfg = transformers.CLIPTextConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2,
                                    num_attention_heads=4, intermediate_size=37,
                                    projection_dim=24, max_position_embeddings=40,
                                    eos_token_id=98)
  model = transformers.CLIPTextModelWithProjection(cfg).eval()
  folder = tmp_path_factory.mktemp("tiny_clip")
  model.save_pretrained(str(folder), safe_serialization=True)
  return model, folder


def test_bert_matches_transformers(tiny_bert):
  model, folder = tiny_bert
  ours = _load(folder, normalize_sentence=False)
  ids, mask = _ids_and_mask(np.random.default_rng(0), 3, 16, 99, [16, 9, 4])
  with torch.no_grad():
    ref = model(input_ids=torch.tensor(ids, dtype=torch.long),
                attention_mask=torch.tensor(mask, dtype=torch.long)).last_hidden_state.numpy()
  feats = ours.module.apply({"params": ours.params}, ids, mask)
  m = mask[..., None]
  assert_close(np.where(m, feats.words, 0), np.where(m, ref, 0))
  ref_sentence = (ref * m).sum(1) / m.sum(1)
  assert_close(feats.sentence, ref_sentence)


@pytest.mark.parametrize("eos", [98, 2])
def test_clip_matches_transformers(tiny_clip, tmp_path, eos):
  model, folder = tiny_clip
  if eos == 2:  # legacy configs: EOS is found by argmax of the ids
    cfg = json.loads((folder / "config.json").read_text())
    cfg["eos_token_id"] = 2
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    (legacy / "config.json").write_text(json.dumps(cfg))
    (legacy / "model.safetensors").symlink_to(folder / "model.safetensors")
    model = transformers.CLIPTextModelWithProjection.from_pretrained(str(legacy)).eval()
    folder = legacy
  ours = text.TextEncoder("clip", text.encoder.clip.CLIPTextConfig.from_hf(
      json.loads((folder / "config.json").read_text())), normalize_sentence=False)
  params = {"clip": text.encoder.clip.params_from_hf(checkpoint.read_tensors(folder),
                                                     ours.config)}
  ids, mask = _ids_and_mask(np.random.default_rng(1), 3, 12, 98, [12, 7, 3], eos=98)
  with torch.no_grad():
    ref = model(input_ids=torch.tensor(ids, dtype=torch.long),
                attention_mask=torch.tensor(mask, dtype=torch.long))
  feats = ours.apply({"params": params}, ids, mask)
  m = mask[..., None]
  assert_close(np.where(m, feats.words, 0), np.where(m, ref.last_hidden_state.numpy(), 0))
  assert_close(feats.sentence, ref.text_embeds.numpy())


def test_clip_full_model_checkpoint_loads(tmp_path):
  """A full CLIPModel folder (text + vision, nested text_config) loads too."""
  torch.manual_seed(0)
  cfg = transformers.CLIPConfig(
      text_config=dict(vocab_size=99, hidden_size=32, num_hidden_layers=1,
                       num_attention_heads=4, intermediate_size=37,
                       max_position_embeddings=40, eos_token_id=98),
      vision_config=dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
                         intermediate_size=37, image_size=32, patch_size=16),
      projection_dim=16)
  model = transformers.CLIPModel(cfg).eval()
  model.save_pretrained(str(tmp_path), safe_serialization=True)
  ours = text.TextEncoder("clip", text.encoder.clip.CLIPTextConfig.from_hf(
      json.loads((tmp_path / "config.json").read_text())), normalize_sentence=False)
  params = {"clip": text.encoder.clip.params_from_hf(checkpoint.read_tensors(tmp_path),
                                                     ours.config)}
  ids, mask = _ids_and_mask(np.random.default_rng(2), 2, 10, 98, [10, 5], eos=98)
  with torch.no_grad():
    ref = model.get_text_features(input_ids=torch.tensor(ids, dtype=torch.long),
                                  attention_mask=torch.tensor(mask, dtype=torch.long))
  ref = getattr(ref, "pooler_output", ref)
  feats = ours.apply({"params": params}, ids, mask)
  assert_close(feats.sentence, np.asarray(ref))


def test_minilm_sentence_embeddings_match_pytorch(minilm):
  """Real all-MiniLM-L6-v2: masked mean + L2 norm, as sentence-transformers."""
  sentences = ["a bright photo of a cat on a sofa",
               "a dark, noisy street at night",
               "well-exposed, neutral white balance, vivid colours, green and blue",
               "low-light image"]
  folder = checkpoint.resolve(text.BUILTIN_MINILM)
  model = transformers.BertModel.from_pretrained(str(folder), add_pooling_layer=False).eval()
  ids, mask = minilm.tokenizer(sentences)
  with torch.no_grad():
    hidden = model(input_ids=torch.tensor(ids, dtype=torch.long),
                   attention_mask=torch.tensor(mask, dtype=torch.long)).last_hidden_state
  m = torch.tensor(mask, dtype=torch.float32)[..., None]
  ref = torch.nn.functional.normalize((hidden * m).sum(1) / m.sum(1), dim=-1).numpy()
  ours = np.asarray(minilm.encode(sentences).sentence)
  cosine = (ours * ref).sum(-1) / np.linalg.norm(ours, axis=-1) / np.linalg.norm(ref, axis=-1)
  assert cosine.min() >= 0.9999, cosine
  np.testing.assert_allclose(np.linalg.norm(ours, axis=-1), 1.0, atol=1e-5)
