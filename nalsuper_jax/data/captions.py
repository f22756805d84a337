"""Captions: `content + ", " + appearance` (ARCHITECTURE.md section 6).

The paper's captions are not public. Content comes from an optional
`captions.jsonl`; appearance is computed from the normal-light image by a
deterministic describer, so the words the network learns to obey (exposure,
contrast, white balance, saturation, colours) are true of its targets. All
thresholds live in `THRESHOLDS`, `EXPOSURE_SHADES` and `COLOURS`.

A caption's exposure is a word and, in its outer thirds, a shade ("darker
dim", "dim", "brighter dim"): the four words alone span up to a quarter of
the luma range, and with only the word a network can aim no closer than its
range's middle (on the demo the exposure it guessed, not the restoration, set
the captioned PSNR: BENCHMARKS.md). The bare word still names the whole range
in "a <word> photo" and means its middle in a caption, so both agree.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from typing import Mapping

import matplotlib.colors
import numpy as np

from nalsuper_jax.data import degrade

# Each entry: ordered (upper bound, word) pairs; the first bound above the
# statistic names it. Statistics are on sRGB values in [0, 1].
THRESHOLDS: dict[str, tuple[tuple[float, str], ...]] = {
    # mean Rec.709 luma
    "exposure": ((0.2, "dark"), (0.35, "dim"), (0.6, "well-exposed"), (np.inf, "bright")),
    # standard deviation of luma
    "contrast": ((0.12, "low contrast"), (0.26, "normal contrast"), (np.inf, "high contrast")),
    # mean(R) - mean(B)
    "white_balance": ((-0.04, "cool"), (0.04, "neutral"), (np.inf, "warm")),
    # mean HSV saturation
    "saturation": ((0.15, "muted"), (0.4, "natural"), (np.inf, "vivid")),
}
# Hue ranges in degrees [start, end) -> colour name. Pixels count toward a
# colour when saturated and bright enough; a colour is named when it covers
# at least `COLOUR_MIN_SHARE` of the image; at most `MAX_COLOURS` are named.
COLOURS: tuple[tuple[float, float, str], ...] = (
    (0, 15, "red"), (15, 45, "orange"), (45, 70, "yellow"), (70, 160, "green"),
    (160, 200, "cyan"), (200, 260, "blue"), (260, 300, "purple"), (300, 340, "pink"),
    (340, 360, "red"),
)
# Exposure shades: the word's luma range cut in thirds, the outer thirds
# named by these (the middle third by the bare word). "bright" has no upper
# bound; its range is cut as if it ended at RELIGHT_MAX_LUMA.
EXPOSURE_SHADES = ("darker", "brighter")
LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)  # Rec.709 weights
# relight(): the brightest mean luma a re-exposed target is given (the top of
# "bright"; above it clipping flattens the image), the fraction of each word's
# luma range left out at both ends (a target near a boundary would be named by
# its neighbour after 8-bit rounding), and bisection steps on the log gain
# (20 halvings of a 2^16 range: well below one 8-bit level).
RELIGHT_MAX_LUMA = 0.85
RELIGHT_MARGIN = 0.15
RELIGHT_STEPS = 20
# keep_exposure_words(): pixels its gain search reads (a strided view; the
# mean luma of 2^18 pixels is within ~0.001 of the whole photo's).
KEEP_SAMPLE_PIXELS = 1 << 18
COLOUR_MIN_SATURATION = 0.25
COLOUR_MIN_VALUE = 0.2
COLOUR_MIN_SHARE = 0.08
MAX_COLOURS = 2


@dataclasses.dataclass(frozen=True)
class Appearance:
  exposure: str
  contrast: str
  white_balance: str
  saturation: str
  colours: tuple[str, ...]
  shade: str = ""          # "", or one of EXPOSURE_SHADES: where in the word's range

  @property
  def exposure_phrase(self) -> str:
    """The exposure word with its shade, e.g. "darker dim"."""
    return f"{self.shade} {self.exposure}" if self.shade else self.exposure

  def text(self) -> str:
    parts = [self.exposure_phrase, self.contrast, f"{self.white_balance} white balance",
             f"{self.saturation} colours"]
    if self.colours:
      parts.append(" and ".join(self.colours) + " tones")
    return ", ".join(parts)


def _bucket(value: float, table: tuple[tuple[float, str], ...]) -> str:
  for bound, word in table:
    if value < bound:
      return word
  return table[-1][1]


def _exposure_range(word: str) -> tuple[float, float]:
  """[low, high) of mean luma an exposure word names (the top one capped at
  RELIGHT_MAX_LUMA: above it clipping flattens the image)."""
  table = THRESHOLDS["exposure"]
  bounds = [0.0] + [b for b, _ in table[:-1]] + [RELIGHT_MAX_LUMA]
  k = [w for _, w in table].index(word)
  return bounds[k], bounds[k + 1]


def _shade(luma: float, word: str) -> str:
  """The shade of mean luma `luma` within `word`'s range (see EXPOSURE_SHADES)."""
  lo, hi = _exposure_range(word)
  third = (hi - lo) / 3
  if luma < lo + third:
    return EXPOSURE_SHADES[0]
  return EXPOSURE_SHADES[1] if luma >= hi - third else ""


def phrase_luma_range(appearance: "Appearance") -> tuple[float, float]:
  """[low, high) of mean luma that `appearance`'s exposure phrase (word and
  shade) names: the third of the word's range a shade picks, else its middle."""
  return _phrase_range(appearance.exposure, appearance.shade)


def _phrase_range(word: str, shade: str) -> tuple[float, float]:
  lo, hi = _exposure_range(word)
  third = (hi - lo) / 3
  k = {EXPOSURE_SHADES[0]: 0, "": 1, EXPOSURE_SHADES[1]: 2}[shade]
  top = k == 2 and word == THRESHOLDS["exposure"][-1][1]
  return lo + k * third, 1.0 if top else lo + (k + 1) * third  # the top word has no ceiling


def exposure_caption(word: str) -> str:
  """The short caption of an exposure word alone (relit targets,
  `caption_exposure`; the text-control prompts have this form)."""
  return f"a {word} photo"


def _hsv(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """(hue in degrees, saturation, value) of RGB in [0, 1]."""
  hsv = matplotlib.colors.rgb_to_hsv(rgb)
  return hsv[..., 0] * 360.0, hsv[..., 1], hsv[..., 2]


def describe(image: np.ndarray) -> Appearance:
  """Appearance words for an RGB image (uint8, or float in [0, 1])."""
  rgb = np.asarray(image)
  rgb = rgb.astype(np.float32) / 255.0 if rgb.dtype == np.uint8 else rgb.astype(np.float32)
  luma = rgb @ LUMA
  hue, sat, val = _hsv(rgb)
  coloured = (sat >= COLOUR_MIN_SATURATION) & (val >= COLOUR_MIN_VALUE)
  shares: dict[str, float] = {}
  for start, end, name in COLOURS:
    share = float(np.mean(coloured & (hue >= start) & (hue < end)))
    shares[name] = shares.get(name, 0.0) + share
  ranked = sorted(((s, n) for n, s in shares.items() if s >= COLOUR_MIN_SHARE), reverse=True)
  mean_luma = float(luma.mean())
  exposure = _bucket(mean_luma, THRESHOLDS["exposure"])
  return Appearance(
      exposure=exposure,
      contrast=_bucket(float(luma.std()), THRESHOLDS["contrast"]),
      white_balance=_bucket(float(rgb[..., 0].mean() - rgb[..., 2].mean()),
                            THRESHOLDS["white_balance"]),
      saturation=_bucket(float(sat.mean()), THRESHOLDS["saturation"]),
      colours=tuple(n for _, n in ranked[:MAX_COLOURS]),
      shade=_shade(mean_luma, exposure))


def caption(content: str, high: np.ndarray) -> str:
  """The full caption of a pair: its content, then its target's appearance."""
  return with_content(content.strip().rstrip(".,"), describe(high))


def with_content(content: str, looks: Appearance) -> str:
  """A caption's text: the content words (if any), then the appearance words."""
  return f"{content}, {looks.text()}" if content else looks.text()


# Words for invented content (`invented_content`): scenes no training photo
# shows, with light and colour words of their own ("dark", "sunlit", "black")
# that say nothing about the target's exposure, which only the appearance
# words name. A caption's content from a user is arbitrary; with a handful of
# training photos the network otherwise reads brightness from the content's
# words (BENCHMARKS.md, "Content words set the brightness").
CONTENT_WORDS: dict[str, tuple[str, ...]] = {
    "adjective": ("dark", "black", "white", "bright", "sunlit", "shadowy", "pale", "golden",
                  "grey", "red", "blue", "green", "yellow", "brown", "silver", "old", "small",
                  "large", "wooden", "glass", "stone", "wet", "snowy", "rusty", "quiet",
                  "busy", "night-time", "misty", "shiny", "faded"),
    "subject": ("dog", "bicycle", "house", "boat", "tree", "child", "car", "lamp", "bridge",
                "horse", "chair", "train", "church", "mountain", "bird", "window", "statue",
                "market stall", "teapot", "guitar", "fence", "tower", "sheep", "kettle",
                "street sign", "violin", "bus", "garden", "doorway", "fisherman"),
    "relation": ("on", "beside", "in front of", "under", "near", "behind", "inside", "above",
                 "along"),
    "place": ("a beach", "a forest", "a city street", "a kitchen", "a field", "a harbour",
              "a desert", "a library", "a snowy road", "a night sky", "a river", "a shop",
              "a courtyard", "a cave", "a stage", "a meadow", "a parking lot", "a hallway",
              "a cliff", "a village square"),
}


def invented_content(rng: np.random.Generator) -> str:
  """A random content phrase, "a <adjective> <subject> <relation> <place>"
  (each part drawn uniformly from `CONTENT_WORDS`)."""
  a, s, r, p = (CONTENT_WORDS[k][int(rng.integers(len(CONTENT_WORDS[k])))]
                for k in ("adjective", "subject", "relation", "place"))
  return f"{'an' if a[0] in 'aeiou' else 'a'} {a} {s} {r} {p}"


def mean_luma(rgb: np.ndarray) -> float:
  """Mean Rec.709 luma of RGB in [0, 1] (what the exposure words are measured on)."""
  return float((rgb @ LUMA).mean())


def relight(high: np.ndarray, rng: np.random.Generator,
            reference: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
  """Re-exposes a uint8 sRGB image so that the mean luma of `reference` (a
  view of the whole image `high` was cropped from; `high` itself when None)
  falls in a random exposure word's range (uniform over the words, then
  within the range). Returns (re-exposed `high`, re-exposed `reference` or
  None).

  Scales linear light (as a camera exposure change does) and finds the gain
  by bisection on its logarithm, since clipping makes luma non-linear in it.
  """
  words = [w for _, w in THRESHOLDS["exposure"]]
  lo, hi = _exposure_range(words[int(rng.integers(len(words)))])
  target = float(rng.uniform(lo + RELIGHT_MARGIN * (hi - lo), hi - RELIGHT_MARGIN * (hi - lo)))
  measured = high if reference is None else reference
  gain = _gain_to_luma(degrade.srgb_to_linear(measured.astype(np.float32) / 255.0), target)
  return (degrade.reexpose(high, gain),
          None if reference is None else degrade.reexpose(reference, gain))


def _gain_to_luma(linear: np.ndarray, target: float) -> float:
  """The factor on linear light that gives sRGB mean luma `target`: bisection
  on its logarithm, since clipping makes luma non-linear in it."""
  a, b = np.log(1 / 256), np.log(256.0)
  for _ in range(RELIGHT_STEPS):
    mid = 0.5 * (a + b)
    if mean_luma(degrade.linear_to_srgb(linear * np.exp(mid))) < target:
      a = mid
    else:
      b = mid
  return float(np.exp(0.5 * (a + b)))


def keep_exposure_words(image: np.ndarray, prompt: str) -> np.ndarray:
  """An enhanced float RGB image [H, W, 3] in [0, 1], re-exposed into the
  mean-luma range its prompt's exposure words name (`prompt_luma_range`).

  The network is taught the words but, from a handful of photos, also reads
  brightness from a caption's content; the words are the user's. An image
  already inside the range, or a prompt naming no exposure, comes back
  unchanged; otherwise its linear light is scaled (as a camera exposure is)
  to the nearest luma inside the range, `RELIGHT_MARGIN` of it in from the
  end, as `relight` places its targets. The gain is found on at most
  `KEEP_SAMPLE_PIXELS` pixels (a strided view), then applied to all.
  """
  bounds = prompt_luma_range(prompt)
  image = np.asarray(image, np.float32)
  if bounds is None:
    return image
  lo, hi = bounds
  luma = mean_luma(image)
  if lo <= luma < hi:
    return image
  margin = RELIGHT_MARGIN * (hi - lo)
  target = float(np.clip(luma, lo + margin, hi - margin))
  stride = max(1, int(np.ceil(np.sqrt(image.shape[0] * image.shape[1] / KEEP_SAMPLE_PIXELS))))
  linear = degrade.srgb_to_linear(image)
  gain = _gain_to_luma(linear[::stride, ::stride], target)
  return degrade.linear_to_srgb(linear * gain).astype(np.float32)


def _appearance_pattern() -> re.Pattern:
  """Matches exactly the texts `Appearance.text()` can produce, at a caption's end."""
  words = lambda name: "|".join(re.escape(w) for _, w in THRESHOLDS[name])
  colour = "|".join(sorted({re.escape(n) for _, _, n in COLOURS}))
  colours = f"(?:{colour})(?: and (?:{colour})){{0,{MAX_COLOURS - 1}}}"
  shades = "|".join(re.escape(w) for w in EXPOSURE_SHADES)
  # the shade is optional: captions written before shades existed still parse
  return re.compile(f"(?:^|, )(?:(?P<shade>{shades}) )?(?P<exposure>{words('exposure')}), "
                    f"(?:{words('contrast')}), (?:{words('white_balance')}) white balance, "
                    f"(?:{words('saturation')}) colours(?:, {colours} tones)?$")


def _short_pattern() -> re.Pattern:
  """Matches "a <phrase> photo" (`exposure_caption`, a shade allowed), alone."""
  words = "|".join(re.escape(w) for _, w in THRESHOLDS["exposure"])
  shades = "|".join(re.escape(w) for w in EXPOSURE_SHADES)
  return re.compile(exposure_caption(f"(?:(?P<shade>{shades}) )?(?P<exposure>{words})") + "$")


_APPEARANCE = _appearance_pattern()
_SHORT = _short_pattern()


def prompt_luma_range(prompt: str) -> tuple[float, float] | None:
  """[low, high) of mean luma a prompt's exposure words name, or None.

  Read where the words are unambiguous: the appearance words a caption ends
  with (their phrase's range: word and shade, `phrase_luma_range`) or a
  prompt "a <word> photo" (the bare word's whole range). Exposure words in
  free text ("a dark dog on a bright beach") describe the content, not the
  wanted exposure, so other prompts name none.
  """
  text = prompt.strip()
  if match := _APPEARANCE.search(text):
    return _phrase_range(match["exposure"], match["shade"] or "")
  if match := _SHORT.match(text):
    word, shade = match["exposure"], match["shade"] or ""
    return _phrase_range(word, shade) if shade else _exposure_range(word)
  return None


def content_of(full_caption: str) -> str:
  """The content part of a caption made by `caption` (the whole text otherwise).

  Parsed from the text, not by describing the image again: describing every
  photo cost seconds at each training start, and the appearance grammar is
  closed (every word comes from `THRESHOLDS` and `COLOURS`).
  """
  match = _APPEARANCE.search(full_caption)
  return full_caption[:match.start()] if match else full_caption


def load_captions_jsonl(path: str | os.PathLike) -> dict[str, str]:
  """Reads `{"name": <file stem>, "caption": ...}` lines; errors name the line."""
  out: dict[str, str] = {}
  with open(path, "rb") as f:
    for number, raw in enumerate(f, 1):
      try:
        line = raw.decode("utf-8")
      except UnicodeDecodeError as e:
        raise ValueError(f"{path}:{number}: byte {e.start + 1} is not UTF-8 ({raw[e.start:e.start + 1]!r}); "
                         "expected a UTF-8 text file") from None
      if not line.strip():
        continue
      try:
        record = json.loads(line)
        name, text = record["name"], record["caption"]
      except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise ValueError(f"{path}:{number}: expected {{\"name\": ..., \"caption\": ...}} "
                         f"({e})") from e
      if not isinstance(name, str) or not isinstance(text, str):
        raise ValueError(f"{path}:{number}: name and caption must be strings")
      if name in out:
        raise ValueError(f"{path}:{number}: duplicate name {name!r}")
      out[name] = text
  return out


def match_report(captions: Mapping[str, str], names: list[str]) -> tuple[list[str], list[str]]:
  """(image names without a caption, captions without an image), sorted."""
  have = set(names)
  return sorted(have - set(captions)), sorted(set(captions) - have)
