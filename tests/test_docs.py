"""The documentation cannot drift from the code.

* Every key of the parameter schema is in the generated parameter reference
  (the same function ``docs/conf.py`` calls at build time).
* Every YAML example of ``docs/*.md`` validates: parameter files, the
  ``requirements`` of numina observation results and control files against
  the schema, overlay files against the overlay validator.
* The pages and the docstrings cite no document outside the repository.

None of these needs a Sphinx build.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
import yaml

from megara_crplugin._docgen import parameter_reference, write_parameter_reference
from megara_crplugin.config import COMBINATIONS, PARAMETERS, ConfigError, validate_parameters

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"

#: Requirements of MegaraCrDetection that are not schema parameters.
RECIPE_ONLY = {
    "master_bias",
    "master_dark",
    "master_bpm",
    "save_preprocessed",
    "save_postprocessed",
}
#: Methods accepted by the CR-aware science recipes.
SCIENCE_METHODS = {"mean", "median", "sigmaclip"} | (set(COMBINATIONS) - {"mean", "median", "min"})
NOISE_KEYS = ("gain", "rnoise", "bias")


def _table_keys(text: str) -> list[str]:
    return re.findall(r"^\| `([a-z0-9_]+)` \|", text, flags=re.MULTILINE)


class TestParameterReference:
    def test_every_schema_key_has_one_row(self):
        keys = _table_keys(parameter_reference())
        missing = sorted(set(PARAMETERS) - set(keys))
        assert not missing, f"schema keys missing from the parameter reference: {missing}"
        assert sorted(keys) == sorted(PARAMETERS), "a key is listed twice or is not in the schema"

    def test_rows_show_default_and_unit_of_the_schema(self):
        text = parameter_reference()
        for name in ("gain", "mm_nsimulations", "dilation"):
            row = next(line for line in text.splitlines() if line.startswith(f"| `{name}` |"))
            cells = [c.strip() for c in row.strip("|").split(" | ")]
            assert len(cells) == 6, row
            p = PARAMETERS[name]
            assert cells[4] == (p.unit or "-")
            assert str(p.default).lower() in cells[2].lower()

    def test_a_new_schema_key_appears(self, monkeypatch):
        probe = dataclasses.replace(PARAMETERS["dilation"], name="zz_docs_probe")
        monkeypatch.setitem(PARAMETERS, "zz_docs_probe", probe)  # one more declaration
        assert "zz_docs_probe" in _table_keys(parameter_reference())

    def test_write_is_idempotent(self, tmp_path):
        path = write_parameter_reference(tmp_path / "parameters.md")
        assert path.read_text(encoding="utf-8") == parameter_reference()
        before = path.stat().st_mtime_ns
        write_parameter_reference(path)
        assert path.stat().st_mtime_ns == before
        assert not list(tmp_path.glob("*.tmp"))


# --------------------------------------------------------------------------- YAML examples


def yaml_examples() -> list[tuple[str, int, str]]:
    """(page, line, text) of every fenced ```yaml block of docs/*.md."""
    found = []
    fence = re.compile(r"^```yaml[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
    for page in sorted(DOCS.glob("*.md")):
        if page.name == "parameters.md":
            continue
        text = page.read_text(encoding="utf-8")
        for m in fence.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            found.append((page.name, line, m.group(1)))
    return found


def _requirements(mapping, where):
    params = {k: v for k, v in mapping.items() if k not in RECIPE_ONLY}
    try:
        validate_parameters(params)
    except ConfigError as exc:
        raise AssertionError(f"{where}: {exc}") from None


def check_example(doc, where: str) -> str:
    """Validate one YAML example; return its kind.  Raise AssertionError otherwise."""
    assert isinstance(doc, dict), f"{where}: a YAML example must be a mapping"
    if "overlay_version" in doc:
        from megara_crplugin.numina.overlay import validate_overlay

        validate_overlay(doc, source=where)
        return "overlay"
    if "mode" in doc:  # numina observation result
        req = doc.get("requirements") or {}
        if doc["mode"] == "MegaraCrDetection":
            _requirements(req, where)
        else:
            method = req.get("method", "median")
            assert method in SCIENCE_METHODS, f"{where}: method {method!r}"
            if method not in {"mean", "median", "sigmaclip"}:
                assert "crmasks" in req, f"{where}: method {method!r} needs crmasks"
        return "observation result"
    if "version" in doc and "requirements" in doc:  # numina control file
        for profiles in doc["requirements"].values():
            for pipelines in profiles.values():
                for modes in pipelines.values():
                    for mode, entries in modes.items():
                        values = {e["name"]: e["content"] for e in entries}
                        if mode == "MegaraCrDetection":
                            _requirements(values, f"{where} ({mode})")
                        else:
                            assert values.get("method", "median") in SCIENCE_METHODS, where
        return "control file"
    if "images" in doc or "requirements" in doc:  # megara-crmasks parameter file
        params = dict(doc.get("requirements") or {})
        params.update({k: doc[k] for k in NOISE_KEYS if k in doc})
        _requirements(params, where)
        return "parameter file"
    if set(doc) <= set(PARAMETERS):
        _requirements(doc, where)
        return "parameters"
    raise AssertionError(f"{where}: YAML example of unknown kind (keys {sorted(doc)})")


EXAMPLES = yaml_examples()


def test_the_pages_have_yaml_examples():
    kinds = {check_example(yaml.safe_load(text), f"{p}:{n}") for p, n, text in EXAMPLES}
    assert {"parameter file", "observation result", "control file"} <= kinds


@pytest.mark.parametrize(
    ("page", "line", "text"), EXAMPLES, ids=[f"{p}:{n}" for p, n, _ in EXAMPLES]
)
def test_yaml_example_validates(page, line, text):
    check_example(yaml.safe_load(text), f"{page}:{line}")


@pytest.mark.parametrize(
    "bad",
    [
        {"images": ["a.fits"] * 3, "requirements": {"mm_knots_split": 3}},
        {"requirements": {"dilation": -1}},
        {"mode": "MegaraCrDetection", "requirements": {"crmethod": "median"}},
        {"mode": "MegaraLcbImage", "requirements": {"method": "meancr2"}},
        {"frames": ["a.fits"]},
    ],
)
def test_a_wrong_example_fails(bad):
    with pytest.raises(AssertionError):
        check_example(bad, "probe")


# --------------------------------------------------------------------------- self-contained

#: Citations of documents a reader of the project cannot open.
OUTSIDE = re.compile(
    r"\bspec(?:ification)?\s*(?:§|section|defect|\d)|of the specification|§\s*\d"
    r"|mmcosmic-spec|seed 00\d"
    r"|numina-integration\.md|style-anchors|\bdoc [AB]\b",
    re.IGNORECASE,
)


def test_no_citation_of_documents_outside_the_repository():
    files = sorted(DOCS.glob("*.md")) + sorted(DOCS.glob("tutorial_src/*.py"))
    files += sorted((REPO / "megara_crplugin").rglob("*.py"))
    hits = []
    for path in files:
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if OUTSIDE.search(line):
                hits.append(f"{path.relative_to(REPO)}:{n}: {line.strip()}")
    assert not hits, "cite the facts, not documents outside the repository:\n" + "\n".join(hits)


def test_the_third_party_detector_example_follows_the_protocol():
    import numpy as np

    from megara_crplugin.detectors.base import Detection, Detector

    text = (DOCS / "api.md").read_text(encoding="utf-8")
    block = next(
        b
        for b in re.findall(r"^```python\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
        if "class MyDetector" in b
    )
    namespace: dict = {}
    exec(compile(block, "docs/api.md", "exec"), namespace)
    detector = namespace["MyDetector"]({"md_nsigma": 8.0})
    assert isinstance(detector, Detector)
    image = np.full((20, 30), 100.0)
    image[5, 7] = 5000.0
    found = detector.detect(image, gain=1.0, rnoise=3.4)
    assert isinstance(found, Detection)
    assert found.mask.shape == image.shape
    assert np.argwhere(found.mask).tolist() == [[5, 7]]
