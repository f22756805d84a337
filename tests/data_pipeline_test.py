"""The grain pipelines: determinism, paired augmentation, exact resume, shards."""

import dataclasses
import os
import pickle
import threading

import numpy as np
import pytest
from absl import flags

from configs import default as default_config
from nalsuper_jax import config_check
from nalsuper_jax.data import captions, degrade, images, pipeline
from tfds_builders.synthetic_lowlight import synthetic_lowlight_dataset_builder as synthetic


def _source(n=10, h=24, w=20):
  """Element i is constant i+1 in low and 2*(i+1) in high: identity survives crops."""
  out = []
  for i in range(n):
    low = np.full((h, w, 3), i + 1, np.uint8)
    low[0, 0] = 200  # a marker pixel, so rotations/flips are visible
    out.append({"low": low, "high": (low.astype(np.int32) * 2 % 256).astype(np.uint8),
                "caption": f"caption {i}".encode(), "name": f"img{i}".encode()})
  return out


def _ids(batch):
  """Which source element each row came from (its constant background)."""
  return [int(np.median(x)) - 1 for x in batch["low"]]


def _take(it, k):
  return [next(it) for _ in range(k)]


def test_batches_are_deterministic_and_seed_dependent(minilm):
  make = lambda seed: pipeline.train_dataset(_source(), crop=16, global_batch=4, seed=seed,
                                             tokenizer=minilm.tokenizer)
  a, b, c = make(0), make(0), make(1)
  for i in range(5):
    for key in ("low", "high", "ids", "mask"):
      np.testing.assert_array_equal(a[i][key], b[i][key])
  assert any(_ids(a[i]) != _ids(c[i]) for i in range(5))
  batch = a[0]
  assert batch["low"].shape == (4, 16, 16, 3) and batch["low"].dtype == np.uint8
  assert batch["ids"].shape == (4, minilm.tokenizer.max_len) and batch["mask"].dtype == bool


def test_each_epoch_visits_every_example_once_in_a_new_order():
  ds = pipeline.train_dataset(_source(8), crop=8, global_batch=4, seed=0, tokenizer=None)
  epochs = [sum((_ids(ds[i]) for i in range(2 * e, 2 * e + 2)), []) for e in range(3)]
  assert all(sorted(e) == list(range(8)) for e in epochs)
  assert epochs[0] != epochs[1]


def test_low_and_high_get_the_same_crop_flip_and_rotation():
  ds = pipeline.train_dataset(_source(10, 12, 12), crop=12, global_batch=2, seed=3,
                              tokenizer=None)
  seen_marker = set()
  for i in range(40):
    batch = ds[i]
    np.testing.assert_array_equal(batch["high"], (batch["low"].astype(np.int32) * 2 % 256))
    for low in batch["low"]:
      ys, xs = np.nonzero(low[..., 0] == 200)
      seen_marker.update(zip(ys.tolist(), xs.tolist()))
  corners = {(0, 0), (0, 11), (11, 0), (11, 11)}
  assert seen_marker <= corners and len(seen_marker) >= 3  # flips/rotations move it


def test_small_images_are_padded_up_to_the_crop():
  ds = pipeline.train_dataset(_source(4, 10, 9), crop=16, global_batch=2, seed=0, tokenizer=None)
  assert ds[0]["low"].shape == (2, 16, 16, 3)


def test_zoom_out_crops_come_from_the_image_scaled_to_the_crop():
  """zoom_out=1: every crop is a window of the photo scaled (Lanczos) to a short
  side of `crop`, low and high alike; zoom_out=0 leaves the stream as it was."""
  rng = np.random.default_rng(0)
  source = [{"low": rng.integers(0, 256, (48, 64, 3), np.uint8),
             "high": rng.integers(0, 256, (48, 64, 3), np.uint8),
             "caption": b"c", "name": f"img{i}".encode()} for i in range(4)]
  kwargs = dict(crop=16, global_batch=2, seed=1, tokenizer=None, augment=False)
  zoomed = pipeline.train_dataset(source, zoom_out=1.0, **kwargs)
  scaled = {key: [images.scale_short_side(e[key], 16) for e in source] for key in ("low", "high")}
  assert scaled["low"][0].shape == (16, 21, 3)
  for i in range(4):
    batch = zoomed[i]
    for row in range(2):
      # which photo and which of the 21 - 16 + 1 windows: the one whose low matches
      low = batch["low"][row]
      matches = [(j, x) for j in range(4) for x in range(6)
                 if np.array_equal(scaled["low"][j][:, x:x + 16], low)]
      assert len(matches) == 1, matches
      j, x = matches[0]
      np.testing.assert_array_equal(batch["high"][row], scaled["high"][j][:, x:x + 16])
  plain, off = (pipeline.train_dataset(source, **kwargs),
                pipeline.train_dataset(source, zoom_out=0.0, **kwargs))
  for i in range(4):
    np.testing.assert_array_equal(plain[i]["low"], off[i]["low"])
    assert not any(np.array_equal(row, s[:, x:x + 16]) for row in plain[i]["low"]
                   for s in scaled["low"] for x in range(6))
  with pytest.raises(ValueError, match=r"zoom_out=-0\.1 must be a probability"):
    pipeline.PairedCropFlipRotate(16, zoom_out=-0.1)


@pytest.mark.parametrize("workers", [0, pytest.param(2, marks=pytest.mark.slow)])
def test_iterator_state_restores_exactly(minilm, workers):
  """Threads, or grain worker processes (`config.data.worker_count`): a restored
  state continues with the same batches, and workers give the threads' batches."""
  if workers:
    flags.FLAGS.mark_as_parsed()  # grain's workers read absl flags (main.py parses them)
  ds = pipeline.train_dataset(_source(), crop=16, global_batch=4, seed=5,
                              tokenizer=minilm.tokenizer,
                              caption_augment=pipeline.CaptionAugment(appearance=0.5))
  it = pipeline.train_iterator(ds, prefetch=4, worker_count=workers, nice=5)
  head = _take(it, 3)
  state = it.get_state()
  expected = _take(it, 4)
  fresh = pipeline.train_iterator(ds, prefetch=4, worker_count=workers, nice=5)
  fresh.set_state(state)
  threads = _take(pipeline.train_iterator(ds, prefetch=4), 7)
  for a, b, c in zip(expected, _take(fresh, 4), threads[3:]):
    for key in a:
      np.testing.assert_array_equal(a[key], b[key])
      np.testing.assert_array_equal(a[key], c[key])
  for a, c in zip(head, threads):
    np.testing.assert_array_equal(a["low"], c["low"])


@pytest.mark.parametrize("degradation", [None, degrade.DegradeConfig()])
def test_process_slices_are_disjoint_and_equal_the_one_process_batches(degradation):
  source = _source(12)
  kwargs = dict(crop=8, global_batch=6, seed=0, tokenizer=None, degradation=degradation)
  whole = pipeline.train_dataset(source, **kwargs)
  parts = [pipeline.train_dataset(source, shard=pipeline.Shard(index, 3), **kwargs)
           for index in range(3)]
  seen = [set() for _ in parts]
  for b in range(2):  # one epoch: 2 global batches of 6
    local = [ds[b] for ds in parts]
    assert all(x["low"].shape[0] == 2 for x in local)  # per-process batch = global / processes
    for key in ("low", "high"):  # same examples, same crops, same degradation
      np.testing.assert_array_equal(np.concatenate([x[key] for x in local]), whole[b][key])
    for ids, x in zip(seen, local):
      ids.update(_ids(x))
  if degradation is None:  # (degradation replaces `low`, which identifies the example)
    assert all(len(ids) == 4 for ids in seen)
    assert set.union(*seen) == set(range(12)) and sum(map(len, seen)) == 12
  with pytest.raises(ValueError, match="not divisible by the 4 processes"):
    pipeline.train_dataset(source, crop=8, global_batch=6, seed=0, tokenizer=None,
                           shard=pipeline.Shard(0, 4))


def test_on_the_fly_degradation_replaces_low():
  cfg = degrade.DegradeConfig()
  source = [dict(e, high=np.full((16, 16, 3), 180, np.uint8)) for e in _source(4, 16, 16)]
  ds = pipeline.train_dataset(source, crop=16, global_batch=2, seed=0, tokenizer=None,
                              degradation=cfg)
  batch = ds[0]
  assert (batch["low"].astype(int).mean(axis=(1, 2, 3)) < batch["high"].mean(axis=(1, 2, 3))).all()
  np.testing.assert_array_equal(ds[0]["low"], batch["low"])  # reproducible


def test_degradation_never_reads_the_stored_low(minilm):
  """`low` may stay undecoded (skip_decoding): the batches are the same as when
  it is decoded, and whatever it holds never reaches them."""
  cfg = degrade.DegradeConfig()
  source = [dict(e, high=np.full((16, 16, 3), 180, np.uint8)) for e in _source(6, 16, 16)]
  undecoded = [dict(e, low=b"\x89PNG encoded bytes") for e in source]
  make = lambda s: pipeline.train_dataset(s, crop=16, global_batch=2, seed=0,
                                          tokenizer=minilm.tokenizer, degradation=cfg,
                                          caption_augment=pipeline.CaptionAugment(swap=0.5))
  a, b = make(source), make(undecoded)
  for i in range(3):
    for key in pipeline.TRAIN_KEYS:
      np.testing.assert_array_equal(a[i][key], b[i][key])


def test_reader_threads_lower_their_priority_and_the_main_thread_keeps_its_own():
  lower = pipeline.LowerThreadPriority(7)
  before = os.getpriority(os.PRIO_PROCESS, 0)
  seen = {}

  def reader():
    assert lower.map({"x": 1}) == {"x": 1}
    seen["reader"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

  thread = threading.Thread(target=reader)
  thread.start()
  thread.join()
  lower.map({"x": 1})  # in the main thread: no change
  assert seen["reader"] == max(before, 7)
  assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == before
  assert pickle.loads(pickle.dumps(lower)).nice == 7  # grain worker processes


def test_eval_pads_to_multiple_keeps_size_and_evens_out_shards(minilm):
  source = _source(5, 18, 21)
  shards = [pipeline.eval_dataset(source, multiple=8, tokenizer=minilm.tokenizer,
                                  shard=pipeline.Shard(i, 2)) for i in range(2)]
  assert len(shards[0]) == len(shards[1]) == 3
  first = shards[0][0]
  assert first["low"].shape == (24, 24, 3) and tuple(first["size"]) == (18, 21)
  np.testing.assert_array_equal(first["low"][:18, :21], source[0]["low"])
  assert first["caption"] == "caption 0" and first["ids"].shape == (minilm.tokenizer.max_len,)
  assert [e["valid"] for e in shards[1]] == [True, True, False]
  names = [e["name"] for s in shards for e in s if e["valid"]]
  assert sorted(names) == [f"img{i}" for i in range(5)]


def test_missing_dataset_says_how_to_build_it(tmp_path):
  with pytest.raises(FileNotFoundError, match=r"tfds build tfds_builders/lol_v1 .*--manual_dir"):
    pipeline.load_source("lol_v1", "train", str(tmp_path))


def test_caption_augmentation_replaces_captions_by_the_crops_appearance():
  rng = np.random.default_rng(0)
  bright = {"high": np.full((8, 8, 3), 230, np.uint8), "caption": "a cat on a sofa"}
  dark = {"high": np.full((8, 8, 3), 20, np.uint8), "caption": "a cat on a sofa"}
  full = pipeline.AugmentCaption(pipeline.CaptionAugment(appearance=1.0))
  assert full.random_map(bright, rng)["caption"] == captions.describe(bright["high"]).text()
  short = pipeline.AugmentCaption(pipeline.CaptionAugment(exposure=1.0))
  assert short.random_map(bright, rng)["caption"] == "a bright photo"  # no shade: the range
  assert short.random_map(dark, rng)["caption"] == "a dark photo"
  mixed = pipeline.AugmentCaption(pipeline.CaptionAugment(appearance=0.3, exposure=0.2))
  seen = [mixed.random_map(bright, np.random.default_rng(i))["caption"] for i in range(2000)]
  kept = seen.count("a cat on a sofa") / len(seen)
  short_share = seen.count("a bright photo") / len(seen)
  assert abs(kept - 0.5) < 0.04 and abs(short_share - 0.2) < 0.03
  swap = pipeline.AugmentCaption(pipeline.CaptionAugment(swap=1.0), ("a dog", "a boat"))
  swapped = {swap.random_map(dark, np.random.default_rng(i))["caption"] for i in range(50)}
  assert swapped == {f"{c}, {captions.describe(dark['high']).text()}" for c in ("a dog", "a boat")}
  relight = pipeline.AugmentCaption(pipeline.CaptionAugment(relight=1.0))
  ramp = {"high": np.tile(np.linspace(20, 200, 16).astype(np.uint8)[None, :, None], (16, 1, 3)),
          "low": np.full((16, 16, 3), 5, np.uint8), "caption": "a cat on a sofa"}
  relit = [relight.random_map(ramp, np.random.default_rng(i)) for i in range(12)]
  assert {e["caption"] for e in relit} == {f"a {w} photo" for _, w in
                                           captions.THRESHOLDS["exposure"]}
  for e in relit:
    assert e["caption"] == f"a {captions.describe(e['high']).exposure} photo"
    np.testing.assert_array_equal(e["low"], ramp["low"])  # same input, new target
  # invented: content no training caption has, then the crop's own appearance.
  invent = pipeline.AugmentCaption(pipeline.CaptionAugment(invented=1.0))
  invented = [invent.random_map(dark, np.random.default_rng(i))["caption"] for i in range(40)]
  looks = captions.describe(dark["high"]).text()
  assert all(c.endswith(f", {looks}") and not c.startswith("a cat") for c in invented)
  assert len(set(invented)) > 30  # varied, not one phrase
  assert captions.content_of(invented[0]) == invented[0][:-len(looks) - 2]
  # relight_full: the relit target's own appearance words after the content, the
  # same targets and input as the short form (the same draws).
  full = pipeline.AugmentCaption(pipeline.CaptionAugment(relight=1.0, relight_full=True))
  with_content = {**ramp, "content": "a cat on a sofa"}
  for i, short_form in enumerate(relit):
    e = full.random_map(with_content, np.random.default_rng(i))
    np.testing.assert_array_equal(e["high"], short_form["high"])
    np.testing.assert_array_equal(e["low"], ramp["low"])
    assert e["caption"] == f"a cat on a sofa, {captions.describe(e['high']).text()}"
  assert full.random_map(ramp, np.random.default_rng(0))["caption"] == relit[0]["caption"]
  # Draws map to kinds by cumulative probability in KINDS order; a kind at 0 is never drawn.
  spread = pipeline.CaptionAugment(appearance=0.1, swap=0.2, relight=0.3, default=0.1,
                                   default_prompt="a photo")
  assert [spread.choose(u) for u in (0.0, 0.09, 0.11, 0.29, 0.31, 0.59, 0.61, 0.69, 0.71, 0.99)
          ] == ["appearance", "appearance", "swap", "swap", "relight", "relight", "default",
                "default", None, None]
  assert dataclasses.replace(spread, invented=0.2).choose(0.75) == "invented"
  with pytest.raises(ValueError, match="sum to at most 1"):
    pipeline.CaptionAugment(appearance=0.7, exposure=0.4)
  with pytest.raises(ValueError, match="contents"):
    pipeline.AugmentCaption(pipeline.CaptionAugment(swap=0.5))


def test_the_default_prompt_augmentation_keeps_the_target_and_leaves_other_draws_alone():
  """`default` replaces the caption by the default prompt and nothing else; it
  is drawn last, so at 0 every other draw is as it was without the field."""
  high = np.tile(np.linspace(20, 200, 16).astype(np.uint8)[None, :, None], (16, 1, 3))
  element = {"high": high, "low": np.full((16, 16, 3), 5, np.uint8), "caption": "a cat"}
  always = pipeline.AugmentCaption(pipeline.CaptionAugment(default=1.0, default_prompt="a photo"))
  out = always.random_map(element, np.random.default_rng(0))
  assert out["caption"] == "a photo"
  np.testing.assert_array_equal(out["high"], high)
  mixed = pipeline.CaptionAugment(exposure=0.3, relight=0.2)
  with_default = dataclasses.replace(mixed, default=0.25, default_prompt="a photo")
  draws = [(pipeline.AugmentCaption(mixed).random_map(element, np.random.default_rng(i)),
            pipeline.AugmentCaption(with_default).random_map(element, np.random.default_rng(i)))
           for i in range(400)]
  changed = [i for i, (a, b) in enumerate(draws) if a["caption"] != b["caption"]]
  assert all(draws[i][1]["caption"] == "a photo" for i in changed)
  assert all(draws[i][0]["caption"] == "a cat" for i in changed)  # only kept captions move
  assert abs(len(changed) / len(draws) - 0.25) < 0.06
  assert all(np.array_equal(a["high"], b["high"]) for a, b in draws)
  with pytest.raises(ValueError, match="non-empty default prompt"):
    pipeline.CaptionAugment(default=0.1)
  with pytest.raises(ValueError, match="sum to at most 1"):
    pipeline.CaptionAugment(swap=0.5, relight=0.3, default=0.3, default_prompt="a photo")


def test_an_as_shot_default_target_is_the_photo_before_re_exposure():
  """With `default_as_shot`, default-prompt rows train towards the clean photo;
  every other row, every input and every caption is as without it."""
  source = [{"low": np.zeros((24, 20, 3), np.uint8), "high": np.full((24, 20, 3), 100 + 10 * i,
                                                                   np.uint8),
             "caption": f"photo {i}".encode(), "name": f"img{i}".encode()} for i in range(8)]
  darker = degrade.DegradeConfig(target_exposure=(0.5, 0.5))  # every target re-exposed
  batches = {}
  for as_shot in (False, True):
    tokenizer = _WordTokenizer()
    augment = pipeline.CaptionAugment(default=0.5, default_prompt="a photo",
                                      default_as_shot=as_shot)
    ds = pipeline.train_dataset(source, crop=16, global_batch=4, seed=0, tokenizer=tokenizer,
                                degradation=darker, caption_augment=augment)
    batches[as_shot] = [(b, [tokenizer.seen[int(i)] for i in b["ids"][:, 0]])
                        for b in (ds[k] for k in range(6))]
    assert set(batches[as_shot][0][0]) == set(pipeline.TRAIN_KEYS)  # the photo is not kept
  defaults = 0
  for (plain, words), (shot, words_shot) in zip(batches[False], batches[True]):
    assert words == words_shot
    np.testing.assert_array_equal(plain["low"], shot["low"])
    for row, word in enumerate(words):
      if word == "a photo":
        defaults += 1
        assert int(shot["high"][row].max()) in range(100, 171, 10)  # a clean photo's value
        assert shot["high"][row].min() == shot["high"][row].max()
        assert plain["high"][row].mean() < shot["high"][row].mean() - 20
      else:
        np.testing.assert_array_equal(plain["high"][row], shot["high"][row])
  assert 0 < defaults < 24


def test_caption_augment_from_config_reads_the_default_prompt():
  config = default_config.get_config()
  config.data.caption_default = 0.1
  augment = pipeline.CaptionAugment.from_config(config)
  assert augment.default == 0.1 and augment.default_prompt == config.eval.default_prompt
  assert augment.relight == config.data.caption_relight
  assert augment.default_as_shot == config.data.caption_default_as_shot
  assert augment.relight_full == config.data.caption_relight_full
  assert augment.invented == config.data.caption_invented


def test_caption_contents_strip_the_describers_words():
  high = np.full((8, 8, 3), 120, np.uint8)
  source = [{"caption": captions.caption("a red boat", high).encode(), "high": high},
            {"caption": captions.caption("", high).encode(), "high": high},
            {"caption": b"a caption written by hand", "high": high}]
  assert pipeline.caption_contents(source) == ("", "a caption written by hand", "a red boat")


def test_swapping_draws_from_the_contents_given_else_reads_the_source(minilm):
  """train.py hands `train_dataset` the contents it read without the images;
  the same contents give the same batches as reading them from the source."""
  make = lambda **kw: pipeline.train_dataset(
      _source(), crop=16, global_batch=4, seed=0, tokenizer=minilm.tokenizer,
      caption_augment=pipeline.CaptionAugment(swap=1.0), **kw)
  read, given, other = (make(), make(contents=pipeline.caption_contents(_source())),
                        make(contents=("a red boat on a lake",)))
  for i in range(3):
    np.testing.assert_array_equal(read[i]["ids"], given[i]["ids"])
    assert not np.array_equal(read[i]["ids"], other[i]["ids"])


def test_caption_augmentation_is_deterministic_in_the_training_dataset(minilm):
  make = lambda p: pipeline.train_dataset(
      _source(), crop=16, global_batch=4, seed=0, tokenizer=minilm.tokenizer,
      caption_augment=pipeline.CaptionAugment(appearance=p))
  a, b, plain = make(0.5), make(0.5), make(0.0)
  changed = False
  for i in range(6):
    np.testing.assert_array_equal(a[i]["ids"], b[i]["ids"])
    np.testing.assert_array_equal(a[i]["low"], plain[i]["low"])  # crops unaffected
    changed |= not np.array_equal(a[i]["ids"], plain[i]["ids"])
  assert changed


def test_on_the_fly_degradation_re_describes_kept_captions():
  high = np.full((16, 16, 3), 128, np.uint8)
  element = {"high": high, "caption": captions.caption("a red boat", high)}
  split = pipeline.WithContent([element])[0]
  assert split["content"] == "a red boat"
  darker = {**split, "high": np.full((16, 16, 3), 30, np.uint8)}  # re-exposed target
  kept = pipeline.AugmentCaption(pipeline.CaptionAugment()).random_map(
      darker, np.random.default_rng(0))
  assert kept["caption"] == "a red boat, " + captions.describe(darker["high"]).text()
  assert "dark" in kept["caption"] and "well-exposed" in element["caption"]


class _WordTokenizer:
  """Stands in for a tokenizer: id = the caption's index in a growing list."""

  def __init__(self):
    self.seen = []

  def __call__(self, texts):
    text, = texts
    if text not in self.seen:
      self.seen.append(text)
    return np.array([[self.seen.index(text)]]), np.ones((1, 1), np.int32)


def test_whole_image_captions_describe_the_image_not_the_crop():
  """Half-dark, half-bright photos cropped small: crop captions name the
  half they fell in, whole-image captions the photo's one exposure."""
  photo = np.full((64, 64, 3), 12, np.uint8)
  photo[:, 32:] = 250
  source = [{"low": photo // 8, "high": photo, "caption": f"photo {i}".encode(),
             "name": f"img{i}".encode()} for i in range(4)]
  whole_word = f"a {captions.describe(photo).exposure} photo"
  words = {}
  for whole in (False, True):
    tokenizer = _WordTokenizer()
    ds = pipeline.train_dataset(source, crop=16, global_batch=4, seed=0, tokenizer=tokenizer,
                                caption_augment=pipeline.CaptionAugment(exposure=1.0),
                                caption_whole_image=whole)
    ids = {int(i) for b in range(8) for i in ds[b]["ids"][:, 0]}
    words[whole] = {tokenizer.seen[i] for i in ids}
    assert "context" not in ds[0]
  assert words[True] == {whole_word}
  assert {"a dark photo", "a bright photo"} <= words[False]  # and straddling crops


def test_on_the_fly_degradation_re_exposes_the_context_as_the_crop():
  rng = np.random.default_rng(3)
  photo = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
  element = {"high": photo[8:24, 16:32], "context": photo}
  for i in range(5):
    out = degrade.SyntheticLowLight(degrade.DegradeConfig(target_exposure=(0.5, 2.0))
                                    ).random_map(element, np.random.default_rng(i))
    np.testing.assert_array_equal(out["context"][8:24, 16:32], out["high"])
    assert not np.array_equal(out["context"], photo)
  assert pipeline.context_view(np.zeros((1000, 300, 3))).shape == (125, 38, 3)


@pytest.mark.slow  # the only fast test that needed the built embedded dataset (~13 s of the tier)
def test_train_exclude_leaves_photos_out_and_a_pattern_that_matches_nothing_is_an_error(data_dir):
  """`config.data.train_exclude`: the training source (and so the baselines'
  fit) holds none of the examples a pattern names; a pattern matching no name,
  or patterns leaving nothing, are errors naming the field; the config check
  refuses an empty pattern."""
  config = default_config.get_config()
  config.data.data_dir = data_dir
  names = pipeline.example_names(config.data.name, config.data.train_split, data_dir)
  config.data.train_exclude = ("china_*", "astronaut_0?")
  kept = pipeline.load_training_source(config.data)
  kept_names = [pipeline.text(kept[i]["name"]) for i in range(len(kept))]
  left_out = [n for n in names if n.startswith("china_") or n.startswith("astronaut_0")]
  assert len(left_out) == 30 and sorted(kept_names) == sorted(set(names) - set(left_out))
  # What swapping draws from, read with the images left encoded: the same contents.
  contents = pipeline.training_caption_contents(config.data)
  assert contents == pipeline.caption_contents(kept) and len(contents) > 1
  config.data.train_exclude = ("chna_*",)
  with pytest.raises(ValueError, match=r"config\.data\.train_exclude=\['chna_\*'\].*match no "
                                       r"example name"):
    pipeline.load_training_source(config.data)
  config.data.train_exclude = ("*",)
  with pytest.raises(ValueError, match="leaves no training example"):
    pipeline.load_training_source(config.data)
  config.data.train_exclude = ("china_*", "")
  with pytest.raises(config_check.ConfigError, match=r"config\.data\.train_exclude=\('china_\*', ''\)"):
    config_check.validate(config)


@pytest.mark.parametrize("name,command", [
    ("lol_v2/real", r"tfds build tfds_builders/lol_v2 --config=real --data_dir=\S+ --manual_dir="),
    ("synthetic_lowlight/with_grey",
     r"tfds build tfds_builders/synthetic_lowlight --config=with_grey --data_dir=\S+$"),
    ("lol_v1", r"tfds build tfds_builders/lol_v1 --data_dir=\S+ --manual_dir=")])
def test_a_dataset_not_built_names_the_command_that_builds_its_config(name, command, tmp_path):
  """Its builder imported (so registered with TFDS, which could build it on its
  own: synthetic_lowlight needs no files) or not: loading never builds."""
  assert synthetic.Builder.name == "synthetic_lowlight"
  with pytest.raises(pipeline.DataNotBuilt, match=command):
    pipeline.load_source(name, "train", str(tmp_path / "empty"))
  assert not (tmp_path / "empty").exists()
