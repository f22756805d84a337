"""paired_folder: your own (low, normal, caption) triples from plain folders.

Expected manual_dir layout, either
  <manual_dir>/low/*.png, <manual_dir>/high/*.png            -> one split, "train"
or one sub-folder per split (its name is the split's name):
  <manual_dir>/<split>/low/*, <manual_dir>/<split>/high/*     e.g. train/, test/
plus optional content captions, {"name": <file stem>, "caption": ...} per line, in
<manual_dir>/captions.jsonl (or <manual_dir>/<split>/captions.jsonl).
Pairs are matched by file stem; any PNG/JPEG/TIFF/BMP/WebP, 8- or 16-bit,
grayscale/RGB/RGBA is accepted and stored as 8-bit RGB.
"""

from nalsuper_jax.data import builder as paired
from nalsuper_jax.data import captions as captions_lib

INSTRUCTIONS = """\
paired_folder: put your pairs in manual_dir as
  low/<name>.png + high/<name>.png                  (a single "train" split), or
  <split>/low/<name>.png + <split>/high/<name>.png   (one folder per split)
and optionally captions.jsonl with {"name": <name>, "caption": "..."} per line."""


class Builder(paired.PairedImageBuilder):
  """Pairs from low/ and high/ folders matched by file stem."""
  DESCRIPTION = __doc__
  MANUAL_DOWNLOAD_INSTRUCTIONS = INSTRUCTIONS
  BUILDER_CONFIGS = paired.default_and_skip_bad()

  def _split_dirs(self, manual_dir):
    if (manual_dir / "low").is_dir() and (manual_dir / "high").is_dir():
      return {"train": manual_dir}
    dirs = {d.name: d for d in sorted(manual_dir.iterdir())
            if (d / "low").is_dir() and (d / "high").is_dir()}
    if not dirs:
      raise paired.ManualDataError(
          f"manual_dir {str(manual_dir)!r} has neither low/ + high/ nor "
          f"<split>/low/ + <split>/high/ folders.\n{INSTRUCTIONS}")
    return dirs

  def find_pairs(self, manual_dir):
    self._dirs = self._split_dirs(manual_dir)
    return {split: self.pair(d / "low", d / "high") for split, d in self._dirs.items()}

  def _load_content(self, manual_dir, splits):
    content = super()._load_content(manual_dir, splits)
    for d in self._dirs.values():
      if d != manual_dir and (d / "captions.jsonl").is_file():
        content.update(captions_lib.load_captions_jsonl(d / "captions.jsonl"))
    return content
