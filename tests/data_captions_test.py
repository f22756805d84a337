"""The appearance describer on images with known properties, and captions.jsonl."""

import colorsys
import itertools
import json

import numpy as np
import pytest
from skimage import data as skdata

from nalsuper_jax.data import captions


def _flat(rgb, size=16):
  return np.broadcast_to(np.asarray(rgb, np.float32), (size, size, 3)).copy()


def _bound(name, word):
  """The upper bound of `word` in THRESHOLDS[name] (and the one below it)."""
  table = captions.THRESHOLDS[name]
  i = [w for _, w in table].index(word)
  return (table[i - 1][0] if i else -np.inf), table[i][0]


@pytest.mark.parametrize("word", ["dark", "dim", "well-exposed", "bright"])
def test_exposure_follows_the_threshold_table(word):
  lo, hi = _bound("exposure", word)
  level = (max(lo, 0.0) + min(hi, 1.0)) / 2
  assert captions.describe(_flat([level] * 3)).exposure == word


@pytest.mark.parametrize("word", ["dark", "dim", "well-exposed", "bright"])
def test_exposure_shade_names_the_outer_thirds_of_the_words_range(word):
  lo, hi = _bound("exposure", word)
  lo, hi = max(lo, 0.0), min(hi, captions.RELIGHT_MAX_LUMA)
  darker, brighter = captions.EXPOSURE_SHADES
  for fraction, shade in [(0.1, darker), (0.3, darker), (0.4, ""), (0.6, ""), (0.7, brighter),
                          (0.95, brighter)]:
    looks = captions.describe(_flat([lo + fraction * (hi - lo)] * 3))
    assert (looks.exposure, looks.shade) == (word, shade), fraction
    phrase = f"{shade} {word}" if shade else word
    assert looks.text().startswith(phrase + ", ")


def test_shaded_exposure_orders_the_luma_scale():
  """Bucket by bucket up a luma ramp, (word, shade) never goes back down."""
  rank = {w: i for i, (_, w) in enumerate(captions.THRESHOLDS["exposure"])}
  darker, brighter = captions.EXPOSURE_SHADES
  shade_rank = {darker: 0, "": 1, brighter: 2}
  seen = []
  for level in np.linspace(0.0, 1.0, 201):
    looks = captions.describe(_flat([level] * 3))
    key = (rank[looks.exposure], shade_rank[looks.shade])
    assert not seen or key >= seen[-1], (level, looks)
    seen.append(key)
  assert len(set(seen)) == 3 * len(rank)


def test_phrase_luma_range_holds_the_luma_it_was_described_from():
  """`phrase_luma_range` inverts the describer: the range an exposure phrase
  names holds the mean luma of every image given that phrase, and the ranges
  of the twelve phrases tile [0, 1] without gaps."""
  ranges = set()
  for level in np.linspace(0.0, 1.0, 401):
    image = _flat([level] * 3)
    appearance = captions.describe(image)
    luma = float((image @ captions.LUMA).mean())  # as the describer measures it
    lo, hi = captions.phrase_luma_range(appearance)
    assert lo <= luma < hi or luma == hi == 1.0, (luma, appearance.exposure_phrase, lo, hi)
    ranges.add((lo, hi))
  edges = sorted(ranges)
  assert len(edges) == 12 and edges[0][0] == 0.0 and edges[-1][1] == 1.0
  assert all(np.isclose(a[1], b[0]) for a, b in zip(edges, edges[1:]))


def test_contrast_white_balance_saturation_and_colours():
  gray = _flat([0.5] * 3)
  a = captions.describe(gray)
  assert (a.contrast, a.white_balance, a.saturation, a.colours) == (
      "low contrast", "neutral", "muted", ())
  checker = np.indices((16, 16)).sum(0) % 2
  assert captions.describe(np.repeat(checker[..., None], 3, -1).astype(np.float32)
                           ).contrast == "high contrast"
  assert captions.describe(_flat([0.6, 0.5, 0.4])).white_balance == "warm"
  assert captions.describe(_flat([0.4, 0.5, 0.6])).white_balance == "cool"
  red = captions.describe(_flat([0.9, 0.1, 0.1]))
  assert red.saturation == "vivid" and red.colours == ("red",)
  half = _flat([0.1, 0.2, 0.9])
  half[:, :6] = [0.1, 0.8, 0.1]  # 10 columns blue, 6 green
  assert captions.describe(half).colours == ("blue", "green")
  # uint8 and float inputs describe the same image the same way
  assert captions.describe((half * 255).round().astype(np.uint8)) == captions.describe(half)


def test_caption_is_content_then_appearance():
  image = _flat([0.9, 0.1, 0.1])
  appearance = captions.describe(image).text()
  assert captions.caption("a red barn.", image) == "a red barn, " + appearance
  assert captions.caption("", image) == appearance
  assert appearance.startswith("well-exposed") or appearance.startswith("dim")
  assert "red tones" in appearance


def test_captions_jsonl_errors_name_the_line(tmp_path):
  path = tmp_path / "captions.jsonl"
  path.write_text(json.dumps({"name": "a", "caption": "x"}) + "\n\n" + '{"name": "b"}\n')
  with pytest.raises(ValueError, match=r"captions.jsonl:3"):
    captions.load_captions_jsonl(path)
  path.write_text('{"name": "a", "caption": "x"}\n{"name": "a", "caption": "y"}\n')
  with pytest.raises(ValueError, match="duplicate name 'a'"):
    captions.load_captions_jsonl(path)
  path.write_text('{"name": "a", "caption": "x"}\n{"name": "c", "caption": "y"}\n')
  content = captions.load_captions_jsonl(path)
  assert captions.match_report(content, ["a", "b"]) == (["b"], ["c"])


def test_relight_lands_in_each_exposure_words_range():
  photo = skdata.coffee()[::4, ::4]
  words = [captions.describe(captions.relight(photo, np.random.default_rng(i))[0]).exposure
           for i in range(40)]
  assert set(words) == {w for _, w in captions.THRESHOLDS["exposure"]}
  a, none = captions.relight(photo, np.random.default_rng(7))
  assert none is None
  np.testing.assert_array_equal(a, captions.relight(photo, np.random.default_rng(7))[0])
  # Re-exposure is one monotone curve per channel: each channel's order is kept.
  for c in range(3):
    src, out = photo[..., c].ravel(), a[..., c].ravel().astype(int)
    order = np.argsort(src, kind="stable")
    assert np.all(np.diff(out[order]) >= 0)


def test_relight_measures_the_reference_and_gives_the_crop_the_same_gain():
  """A dark corner of a bright photo, relit for the photo's exposure word: the
  word is the whole photo's (the reference), and the corner is scaled alike."""
  photo = skdata.coffee()[::4, ::4]
  luma = photo.astype(np.float32) @ captions.LUMA
  top, left = np.unravel_index(np.argmin(luma[:-32, :-32]), (luma.shape[0] - 32, luma.shape[1] - 32))
  corner = photo[top:top + 32, left:left + 32]
  ranges = {}
  for i in range(30):
    crop, whole = captions.relight(corner, np.random.default_rng(i), reference=photo)
    word = captions.describe(whole).exposure
    lo, hi = captions._exposure_range(word)
    assert lo <= captions.mean_luma(whole.astype(np.float32) / 255) < hi
    # the same gain on both: the corner of the relit photo is the relit corner
    np.testing.assert_array_equal(whole[top:top + 32, left:left + 32], crop)
    ranges.setdefault(word, []).append(captions.mean_luma(crop.astype(np.float32) / 255))
  assert len(ranges) == 4
  # the dark corner stays darker than the word the whole photo was given
  assert all(max(v) < captions._exposure_range(w)[1] for w, v in ranges.items())


def test_hue_and_saturation_match_the_standard_library():
  """The describer's HSV (matplotlib) against Python's `colorsys`, pixel by pixel,
  grays and black included (hue 0, saturation 0 there)."""
  rgb = np.random.default_rng(0).random((64, 3)).astype(np.float32)
  rgb[:3] = [[0, 0, 0], [0.5, 0.5, 0.5], [1, 0, 0]]
  hue, sat, val = captions._hsv(rgb)
  expected = np.array([colorsys.rgb_to_hsv(*map(float, p)) for p in rgb])
  np.testing.assert_allclose(hue, expected[:, 0] * 360.0, rtol=0, atol=360 * 1e-6)
  np.testing.assert_allclose(sat, expected[:, 1], rtol=1e-6, atol=1e-7)
  np.testing.assert_allclose(val, expected[:, 2], rtol=1e-6)


def test_content_of_undoes_caption_for_every_appearance():
  """Every text the describer can produce is split off, and only those."""
  words = lambda name: [w for _, w in captions.THRESHOLDS[name]]
  names = sorted({n for _, _, n in captions.COLOURS})
  colour_sets = [()] + [(a,) for a in names] + [(a, b) for a in names for b in names if a != b]
  content = "a boat, two people, sunset"
  for exposure, contrast, balance, saturation in itertools.product(
      words("exposure"), words("contrast"), words("white_balance"), words("saturation")):
    for colours in colour_sets[::7]:
      for shade in ("",) + captions.EXPOSURE_SHADES:
        appearance = captions.Appearance(exposure, contrast, balance, saturation, colours,
                                         shade).text()
        assert captions.content_of(f"{content}, {appearance}") == content
        assert captions.content_of(appearance) == ""
  for hand in ["a dim room", "dark, low contrast",
               "x, darkest dim, low contrast, neutral white balance, muted colours",
               "brighter, normal contrast, warm white balance, vivid colours",
               "bright, normal contrast, warm white balance",
               "x, dark, low contrast, neutral white balance, muted colours, grey tones"]:
    assert captions.content_of(hand) == hand


def test_invented_content_draws_every_part_and_parses_back_as_content():
  """Invented content is a content phrase like any other: `content_of` keeps
  all of it (light words in the content are not taken for appearance words)."""
  rng = np.random.default_rng(0)
  phrases = [captions.invented_content(rng) for _ in range(400)]
  for kind, words in captions.CONTENT_WORDS.items():
    assert all(any(f" {w} " in f" {p} " for p in phrases) for w in words), kind
  photo = np.full((8, 8, 3), 120, np.uint8)
  for p in phrases[:50]:
    assert captions.content_of(captions.caption(p, photo)) == p
  assert phrases[0] == captions.invented_content(np.random.default_rng(0))
  assert all(p.startswith(("a ", "an ")) and not p.startswith(("a a", "a e", "a o")) for p in phrases)


def test_prompt_luma_range_reads_exposure_words_only_where_unambiguous():
  """A caption's appearance tail names its phrase's range (every shade of
  every word, with content before it or not), "a <word> photo" the word's
  whole range; exposure words in free text and the default prompt name none."""
  for level in np.linspace(0.02, 0.98, 49):
    looks = captions.describe(_flat([level] * 3))
    expected = captions.phrase_luma_range(looks)
    assert captions.prompt_luma_range(looks.text()) == expected
    assert captions.prompt_luma_range(captions.with_content("a dark dog", looks)) == expected
  for _, word in captions.THRESHOLDS["exposure"]:
    lo, hi = captions.prompt_luma_range(captions.exposure_caption(word))
    assert lo < hi and captions.describe(_flat([lo + 0.5 * (hi - lo)] * 3)).exposure == word
  assert captions.prompt_luma_range("a brighter dim photo") == captions.phrase_luma_range(
      captions.Appearance("dim", "", "", "", (), shade="brighter"))
  for prompt in ("a dark dog on a bright beach", "a well-exposed photo, normal contrast, "
                 "neutral white balance, natural colours", "dim", "", "a dim photo of a cat"):
    assert captions.prompt_luma_range(prompt) is None, prompt


def test_keep_exposure_words_moves_only_outputs_outside_the_named_range():
  photo = skdata.astronaut().astype(np.float32) / 255.0          # mean luma 0.44: well-exposed
  luma = captions.mean_luma(photo)
  lo, hi = captions.prompt_luma_range("a well-exposed photo")
  assert lo <= luma < hi                                         # inside: returned as it is
  np.testing.assert_array_equal(captions.keep_exposure_words(photo, "a well-exposed photo"), photo)
  np.testing.assert_array_equal(captions.keep_exposure_words(photo, "a dark dog"), photo)
  for prompt in ("a dark photo", "a dim photo", "a bright photo", "a brighter dim photo"):
    out = captions.keep_exposure_words(photo, prompt)
    lo, hi = captions.prompt_luma_range(prompt)
    margin = captions.RELIGHT_MARGIN * (hi - lo)
    # the nearest luma inside, a margin in from the end (to within one bisection step)
    target = lo + margin if luma < lo else hi - margin
    assert captions.mean_luma(out) == pytest.approx(target, abs=2e-3), prompt
    assert out.dtype == np.float32 and out.shape == photo.shape
    assert 0.0 <= out.min() and out.max() <= 1.0
    # one gain on linear light: the order of the pixels' brightness is kept
    order = np.argsort(photo[::7, ::7, 1], axis=None)
    assert np.all(np.diff(out[::7, ::7, 1].ravel()[order]) >= -1e-6), prompt


def test_keep_exposure_words_finds_the_gain_of_a_large_photo_on_a_sample():
  """Above KEEP_SAMPLE_PIXELS the gain is searched on a strided view; the
  whole photo still lands inside the range."""
  photo = np.tile(skdata.coffee().astype(np.float32) / 255.0, (2, 2, 1))   # 800 x 1200
  assert photo.shape[0] * photo.shape[1] > captions.KEEP_SAMPLE_PIXELS
  lo, hi = captions.prompt_luma_range("a bright photo")
  out = captions.keep_exposure_words(photo, "a bright photo")
  assert lo + 0.5 * captions.RELIGHT_MARGIN * (hi - lo) <= captions.mean_luma(out) < hi
