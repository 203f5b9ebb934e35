"""Tests of megara_crplugin.synthetic: ground truth, noise model, geometry, FITS output."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from megara_crplugin.synthetic import (
    CREvent,
    SyntheticSet,
    make_megara_like_frames,
    write_frames,
    write_truth,
)


@pytest.fixture(scope="module")
def sset() -> SyntheticSet:
    """A small default-like set with doubles, faint doubles and triples."""
    return make_megara_like_frames(
        (256, 320), seed=11, n_double_hits=30, n_triple_hits=5, faint_fraction=0.3
    )


def _hit_masks_from_events(events: list[CREvent], n_frames: int, shape) -> np.ndarray:
    hits = np.zeros((n_frames, *shape), dtype=bool)
    for ev in events:
        for f in ev.frames:
            hits[f, ev.ys, ev.xs] = True
    return hits


def _flux_from_events(events: list[CREvent], n_frames: int, shape) -> np.ndarray:
    flux = np.zeros((n_frames, *shape))
    for ev in events:
        for j, f in enumerate(ev.frames):
            np.add.at(flux[f], (ev.ys, ev.xs), ev.amplitudes[j])
    return flux


def _line_centroid(values: np.ndarray, cols: np.ndarray) -> float:
    above = np.clip(values - np.median(values), 0, None)
    return float((above * cols).sum() / above.sum())


def _fibre_phase_shift(reference: np.ndarray, image: np.ndarray) -> float:
    """Shift along y (px) of the fibre pattern, from the phase at the fibre frequency."""
    pitch = 4112 / 623
    rows = np.arange(20, 140)
    wave = np.exp(-2j * np.pi * rows / pitch)[:, None]
    ratio = (image[rows, 30:60] * wave).sum() / (reference[rows, 30:60] * wave).sum()
    return float(-np.angle(ratio) * pitch / (2 * np.pi))


class TestDeterminismAndShapes:
    def test_same_seed_identical_arrays(self):
        """The same seed reproduces every array and every event."""
        a = make_megara_like_frames((96, 128), seed=5, n_triple_hits=2)
        b = make_megara_like_frames((96, 128), seed=5, n_triple_hits=2)
        for name in ("frames", "signal", "expected", "cr_flux", "truth"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
        assert [(e.kind, e.frames, e.ys.tolist()) for e in a.events] == [
            (e.kind, e.frames, e.ys.tolist()) for e in b.events
        ]

    def test_different_seed_differs(self):
        """Another seed gives another scene, other noise and other cosmic rays."""
        a = make_megara_like_frames((96, 128), seed=5)
        b = make_megara_like_frames((96, 128), seed=6)
        assert not np.array_equal(a.signal, b.signal)
        assert not np.array_equal(a.truth, b.truth)

    def test_cr_parameters_leave_scene_and_noise_unchanged(self):
        """Changing only the cosmic-ray parameters keeps the scene and the noise draws."""
        a = make_megara_like_frames((96, 128), seed=5, cr_fraction=0.002)
        b = make_megara_like_frames((96, 128), seed=5, cr_fraction=0.0, n_double_hits=0)
        np.testing.assert_array_equal(a.expected, b.expected)
        np.testing.assert_allclose(a.frames - a.cr_flux, b.frames, atol=1e-3)

    @pytest.mark.parametrize("dtype", [np.float32, np.float64])
    def test_shapes_and_dtypes(self, dtype):
        """Arrays have the documented shapes and dtypes."""
        s = make_megara_like_frames((64, 80), 4, seed=1, dtype=dtype, n_triple_hits=1)
        assert s.frames.shape == s.expected.shape == s.cr_flux.shape == s.truth.shape
        assert s.frames.shape == (4, 64, 80)
        assert s.signal.shape == s.multi_hit.shape == (64, 80)
        for name in ("frames", "signal", "expected", "cr_flux"):
            assert getattr(s, name).dtype == np.dtype(dtype)
        assert s.truth.dtype == bool and s.multi_hit.dtype == bool
        assert s.flux_factors.shape == (4,) and s.offsets.shape == (4, 2)
        assert np.all(np.isfinite(s.frames))

    def test_megara_geometry_scales_with_rows(self):
        """Fibre pitch stays at 6.6 px and the fibre count scales with ny."""
        s = make_megara_like_frames((1028, 64), seed=2, cr_fraction=0.0, n_double_hits=0)
        assert s.scene.n_fibres == 155  # 623 * 1028 / 4112 = 155.75
        np.testing.assert_allclose(np.diff(s.scene.centres).mean(), 4112 / 623, atol=0.01)
        assert 1.4 <= s.scene.sigma.min() and s.scene.sigma.max() <= 1.9


class TestNoise:
    @pytest.mark.parametrize(("gain", "rnoise", "bias"), [(1.0, 3.4, 0.0), (1.0, 3.4, 250.0)])
    def test_residual_std_matches_model(self, gain, rnoise, bias):
        """frame - bias - expected - cr_flux has std sqrt(expected/gain + rnoise^2) (3 %)."""
        s = make_megara_like_frames((384, 384), seed=3, gain=gain, rnoise=rnoise, bias=bias)
        resid = s.frames.astype(float) - bias - s.expected - s.cr_flux
        sigma = np.sqrt(s.expected / gain + rnoise**2)
        z = resid / sigma
        assert abs(z.std() - 1.0) < 0.03
        assert abs(z.mean()) < 0.01
        bright = s.expected > 500
        assert bright.sum() > 1000 and abs(z[bright].std() - 1.0) < 0.03

    def test_gain_two_gives_same_electrons(self):
        """At gain 2 (rnoise 1.7 ADU = 3.4 e-) the scene, CRs and noise are the same in e-."""
        e1 = make_megara_like_frames((256, 256), seed=4, gain=1.0, rnoise=3.4)
        e2 = make_megara_like_frames((256, 256), seed=4, gain=2.0, rnoise=1.7)
        np.testing.assert_allclose(e2.expected * 2.0, e1.expected, rtol=1e-6)
        np.testing.assert_allclose(e2.cr_flux * 2.0, e1.cr_flux, rtol=1e-6)
        np.testing.assert_array_equal(e2.truth, e1.truth)
        resid_e = (e2.frames - e2.expected - e2.cr_flux) * 2.0
        sigma_e = np.sqrt(e1.expected + 3.4**2)
        assert abs((resid_e / sigma_e).std() - 1.0) < 0.03
        assert abs(resid_e.std() / (e1.frames - e1.expected - e1.cr_flux).std() - 1) < 0.02

    def test_zero_read_noise_gives_integer_electrons(self):
        """With rnoise 0 and no CRs every pixel is an integer number of electrons / gain."""
        s = make_megara_like_frames(
            (64, 64), seed=8, gain=2.0, rnoise=0.0, cr_fraction=0.0, n_double_hits=0
        )
        e = s.frames.astype(float) * 2.0
        np.testing.assert_array_equal(e, np.round(e))


class TestTruth:
    def test_truth_equals_positive_cr_flux(self, sset):
        """truth is exactly cr_flux > 0."""
        np.testing.assert_array_equal(sset.truth, sset.cr_flux > 0)

    def test_events_rebuild_truth_and_flux(self, sset):
        """The events list reproduces the truth cube and the CR flux cube."""
        hits = _hit_masks_from_events(sset.events, sset.n_frames, sset.shape)
        np.testing.assert_array_equal(hits, sset.truth)
        flux = _flux_from_events(sset.events, sset.n_frames, sset.shape)
        np.testing.assert_allclose(sset.cr_flux, flux, rtol=1e-5, atol=1e-3)

    def test_cr_fraction_and_kinds(self):
        """About cr_fraction of the pixels are hit per frame, by all four random kinds."""
        s = make_megara_like_frames((512, 512), seed=9, cr_fraction=0.003, n_double_hits=0)
        frac = s.truth.mean(axis=(1, 2))
        assert np.all((frac > 0.9 * 0.003) & (frac < 1.05 * 0.003)), frac
        kinds = {e.kind for e in s.events}
        assert kinds == {"single", "blob", "track", "worm"}
        singles = np.concatenate([e.amplitudes.ravel() for e in s.events if e.kind == "single"])
        assert singles.min() >= 50.0 and singles.max() <= 10000.0
        tracks = [e for e in s.events if e.kind == "track"]
        assert max(e.npix for e in tracks) >= 15 and min(e.npix for e in tracks) >= 3

    def test_designed_events(self, sset):
        """Doubles hit the same pixels in exactly two frames; triples in all frames."""
        doubles = [e for e in sset.events if e.kind == "double"]
        triples = [e for e in sset.events if e.kind == "triple"]
        assert len(doubles) == 30 and len(triples) == 5
        assert sum(e.faint for e in doubles) == 9
        for ev in doubles:
            assert len(set(ev.frames)) == 2 and ev.npix <= 5
            assert sset.truth[list(ev.frames)][:, ev.ys, ev.xs].all()
            assert not np.allclose(ev.peak[0], ev.peak[1])
        for ev in triples:
            assert ev.frames == (0, 1, 2)

    def test_multi_hit_is_designed_plus_chance(self, sset):
        """multi_hit = designed double/triple pixels + chance coincidences, nothing else."""
        designed = np.zeros(sset.shape, bool)
        random_count = np.zeros(sset.shape, int)
        for ev in sset.events:
            if len(ev.frames) >= 2:
                designed[ev.ys, ev.xs] = True
        random_hits = _hit_masks_from_events(
            [e for e in sset.events if len(e.frames) == 1], sset.n_frames, sset.shape
        )
        random_count = random_hits.sum(axis=0)
        chance = (random_count >= 2) & ~designed
        np.testing.assert_array_equal(sset.multi_hit, designed | chance)
        np.testing.assert_array_equal(sset.chance_multi_hit, chance)
        assert designed.sum() >= 35

    def test_no_doubles_and_tiny_rate_gives_no_multi_hit(self):
        """With no designed hits and a tiny CR rate, no pixel is hit twice."""
        s = make_megara_like_frames((256, 256), seed=12, cr_fraction=1e-5, n_double_hits=0)
        assert s.truth.sum() > 0
        assert not s.multi_hit.any()

    def test_no_doubles_multi_hit_only_chance(self):
        """Without designed hits every multi-hit pixel is hit by random events in 2+ frames."""
        s = make_megara_like_frames((512, 512), seed=13, cr_fraction=0.005, n_double_hits=0)
        assert s.multi_hit.sum() > 0
        np.testing.assert_array_equal(s.multi_hit, s.chance_multi_hit)
        assert all(len(e.frames) == 1 for e in s.events)

    def test_double_hit_events_bright_vs_faint(self, sset):
        """Bright doubles raise the median > 5 sigma; faint ones (2-5 sigma) do not."""
        found = {id(e) for e in sset.double_hit_events(min_sigma=5.0)}
        doubles = [e for e in sset.events if e.kind == "double"]
        bright = [e for e in doubles if not e.faint]
        assert all(id(e) in found for e in bright)
        assert sum(id(e) in found for e in doubles if e.faint) <= 1  # only by chance overlap
        low = {id(e) for e in sset.double_hit_events(min_sigma=1.9)}
        assert all(id(e) in low for e in doubles)
        assert all(id(e) in found for e in sset.events if e.kind == "triple")

    def test_median_raised_mask_matches_direct_median(self, sset):
        """The pixel helper equals median(signal + cr) - signal > k * sigma for ff = 1."""
        raised = np.median(sset.signal + sset.cr_flux.astype(float), axis=0) - sset.signal
        sigma = np.sqrt(sset.signal / sset.gain + sset.rnoise**2)
        np.testing.assert_array_equal(sset.median_raised_mask(min_sigma=5), raised > 5 * sigma)
        assert sset.median_raised_mask(min_sigma=5).sum() >= 21
        assert not (sset.median_raised_mask() & ~sset.multi_hit).any()


class TestSceneAndTransforms:
    def test_flux_factors_scale_expectation(self):
        """Frame i's expectation is signal * ff[i]; the frames follow."""
        ff = [0.8, 1.0, 1.25]
        s = make_megara_like_frames((128, 128), seed=3, flux_factors=ff, cr_fraction=0)
        for i, f in enumerate(ff):
            np.testing.assert_allclose(s.expected[i], s.signal * f, rtol=1e-6)
        bright = s.signal > 100
        ratio = s.frames[2][bright].sum() / s.frames[0][bright].sum()
        assert ratio == pytest.approx(1.25 / 0.8, rel=0.01)

    def test_offsets_shift_sky_line_and_fibres(self):
        """Sub-pixel offsets move a sky line by dx and a fibre trace by dy; flux conserved."""
        offsets = [(0.0, 0.0), (0.37, -0.62), (-1.25, 0.4)]
        s = make_megara_like_frames(
            (160, 256), seed=21, offsets=offsets, cr_fraction=0, n_double_hits=0
        )
        sc = s.scene
        line = int(np.argmax(sc.sky_line_peak))
        xl, k = sc.sky_line_x[line], sc.n_fibres // 2
        assert 15 < xl < 240
        row = int(round(float(sc.trace(k, xl, nx=256))))
        cols = np.arange(int(xl) - 8, int(xl) + 9)
        cx0 = _line_centroid(s.signal[row, cols], cols)
        for i, (dx, dy) in enumerate(offsets):
            cx = _line_centroid(s.expected[i][row, cols], cols)
            assert cx - cx0 == pytest.approx(dx, abs=0.03)
            assert _fibre_phase_shift(s.signal, s.expected[i]) == pytest.approx(dy, abs=0.05)
        inner = (slice(20, 140), slice(20, 236))
        totals = [s.expected[i][inner].sum() for i in range(3)]
        np.testing.assert_allclose(totals, s.signal[inner].sum(), rtol=0.01)

    def test_sky_lines_cross_all_fibres(self):
        """The brightest sky line raises every fibre above its local continuum."""
        s = make_megara_like_frames((200, 300), seed=31, cr_fraction=0, n_double_hits=0)
        sc = s.scene
        line = int(np.argmax(sc.sky_line_peak))
        xl = int(round(float(sc.sky_line_x[line])))
        assert sc.sky_line_peak[line] >= 2000
        inside = (sc.centres > 4) & (sc.centres < 195)
        for k in np.nonzero(inside)[0]:
            y = int(round(float(sc.trace(k, xl, nx=300))))
            cont = 0.5 * (s.signal[y, xl - 10] + s.signal[y, xl + 10])
            assert s.signal[y, xl] - cont > 0.3 * sc.sky_line_peak[line] * sc.throughput[k]
        flat = make_megara_like_frames(
            (200, 300),
            seed=31,
            cr_fraction=0,
            n_double_hits=0,
            sky_lines=False,
            extended_object=False,
        )
        y = int(round(float(sc.centres[sc.n_fibres // 3])))
        assert np.abs(np.diff(s.signal[y], 2)).max() > 100.0
        assert np.abs(np.diff(flat.signal[y], 2)).max() < 1.0

    def test_extended_object_and_gaps(self):
        """Object fibres are much brighter than sky fibres; inter-fibre gaps are darker."""
        s = make_megara_like_frames((400, 256), seed=41, cr_fraction=0, n_double_hits=0)
        sc = s.scene
        assert 3 <= sc.object_fibres.size <= 12
        peak_rows = np.rint(sc.centres).astype(int)
        level = np.median(s.signal[peak_rows, 100:150], axis=1)
        obj = level[sc.object_fibres].max()
        assert obj > 5 * np.median(level)
        gaps = np.rint(sc.centres[:-1] + np.diff(sc.centres) / 2).astype(int)
        sky = np.setdiff1d(np.arange(2, sc.n_fibres - 3), np.arange(-3, 4) + sc.object_fibres[0])
        assert np.median(s.signal[gaps[sky], 128]) < 0.6 * np.median(s.signal[peak_rows[sky], 128])
        bare = make_megara_like_frames(
            (400, 256), seed=41, cr_fraction=0, n_double_hits=0, extended_object=False
        )
        assert bare.scene.object_fibres.size == 0
        bare_level = np.median(bare.signal[peak_rows, 100:150], axis=1)
        assert bare_level[sc.object_fibres].max() < 2 * np.median(bare_level)


class TestValidation:
    @pytest.mark.parametrize(
        ("kwargs", "match"),
        [
            ({"shape": (8, 64)}, r"shape\[0\] \(ny\) must be an integer >= 16, got 8"),
            ({"shape": 64}, r"shape must be a pair \(ny, nx\)"),
            ({"n_frames": 0}, r"n_frames must be an integer >= 1, got 0"),
            ({"gain": 0.0}, r"gain must be > 0.0, got 0.0"),
            ({"rnoise": -1}, r"rnoise must be >= 0.0, got -1"),
            ({"bias": float("nan")}, r"bias must be finite"),
            ({"cr_fraction": 0.5}, r"cr_fraction must be <= 0.05"),
            ({"faint_fraction": 1.5}, r"faint_fraction must be in \[0, 1\], got 1.5"),
            ({"n_double_hits": -1}, r"n_double_hits must be an integer >= 0, got -1"),
            ({"n_double_hits": 2.5}, r"n_double_hits must be an integer >= 0, got 2.5"),
            ({"n_frames": 1}, r"n_double_hits > 0 needs n_frames >= 2, got n_frames=1"),
            (
                {"n_frames": 2, "n_triple_hits": 1},
                r"n_triple_hits > 0 needs n_frames >= 3, got n_frames=2",
            ),
            ({"flux_factors": [1, 1]}, r"flux_factors must have shape \(3,\), got shape \(2,\)"),
            ({"flux_factors": [1, 0, 1]}, r"flux_factors must be > 0"),
            ({"offsets": [(0, 0)] * 2}, r"offsets must have shape \(3, 2\), got shape \(2, 2\)"),
            ({"offsets": [(0, 0), (np.inf, 0), (0, 0)]}, r"offsets must contain only finite"),
            ({"dtype": np.int16}, r"dtype must be float32 or float64, got int16"),
            ({"seed": "abc"}, r"seed must be an int, a numpy Generator or None"),
        ],
    )
    def test_bad_arguments(self, kwargs, match):
        """Each bad argument raises ValueError naming it, before any work."""
        args = {"shape": (32, 32), **kwargs}
        with pytest.raises(ValueError, match=match):
            make_megara_like_frames(**args)

    def test_min_sigma_checked(self, sset):
        """min_sigma must be a finite number >= 0."""
        with pytest.raises(ValueError, match=r"min_sigma must be >= 0.0, got -1"):
            sset.median_raised_mask(min_sigma=-1)

    def test_inputs_not_modified(self):
        """The caller's flux_factors and offsets arrays are left untouched."""
        ff = np.array([1.0, 0.9, 1.1])
        off = np.array([[0.0, 0.0], [0.5, 0.1], [0.2, -0.3]])
        s = make_megara_like_frames((32, 32), seed=1, flux_factors=ff, offsets=off)
        s.flux_factors[0] = 7.0
        s.offsets[0, 0] = 7.0
        np.testing.assert_array_equal(ff, [1.0, 0.9, 1.1])
        assert off[0, 0] == 0.0


class TestFitsOutput:
    def test_write_frames(self, sset, tmp_path):
        """Frames are written as float32 with the documented headers and no temp files."""
        paths = write_frames(sset, tmp_path / "out", extra_header={"INSTRUME": "MEGARA"})
        assert [p.name for p in paths] == ["frame_1.fits", "frame_2.fits", "frame_3.fits"]
        assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [p.name for p in paths]
        uuids = set()
        for i, path in enumerate(paths):
            with fits.open(path) as hdul:
                assert len(hdul) == 1
                hdr, data = hdul[0].header, hdul[0].data
                assert data.dtype == np.dtype(">f4")
                np.testing.assert_array_equal(data, sset.frames[i])
                assert hdr["OBJECT"] == "SYNTHETIC" and hdr["INSTRUME"] == "MEGARA"
                assert hdr["EXPTIME"] == 1200.0 and hdr["GAIN"] == 1.0 and hdr["RDNOISE"] == 3.4
                assert hdr["FRAMENUM"] == i + 1
                uuids.add(hdr["UUID"])
        assert len(uuids) == 3

    def test_write_frames_reproducible_uuid(self, sset, tmp_path):
        """Writing the same set twice gives the same UUIDs (derived from the data)."""
        a = write_frames(sset, tmp_path / "a", prefix="raw")
        b = write_frames(sset, tmp_path / "b", prefix="raw")
        assert [fits.getheader(p)["UUID"] for p in a] == [fits.getheader(p)["UUID"] for p in b]
        assert all(x.read_bytes() == y.read_bytes() for x, y in zip(a, b, strict=True))

    def test_write_frames_refuses_overwrite(self, sset, tmp_path):
        """An existing file is an error raised before anything is written."""
        (tmp_path / "frame_2.fits").write_text("keep me")
        with pytest.raises(FileExistsError, match=r"frame_2.fits exists; pass overwrite=True"):
            write_frames(sset, tmp_path)
        assert not (tmp_path / "frame_1.fits").exists()
        assert (tmp_path / "frame_2.fits").read_text() == "keep me"
        paths = write_frames(sset, tmp_path, overwrite=True)
        np.testing.assert_array_equal(fits.getdata(paths[1]), sset.frames[1])

    def test_write_frames_bad_prefix(self, sset, tmp_path):
        """prefix must be a plain file-name prefix."""
        with pytest.raises(ValueError, match=r"prefix must be a non-empty file-name prefix"):
            write_frames(sset, tmp_path, prefix="a/b")
        with pytest.raises(TypeError, match=r"sset must be a SyntheticSet, got dict"):
            write_frames({}, tmp_path)

    def test_write_truth_roundtrip(self, sset, tmp_path):
        """The truth file holds TRUTH, SIGNAL, CRFLUX and one EVENTS row per event."""
        path = write_truth(sset, tmp_path / "truth.fits")
        with fits.open(path) as hdul:
            assert [h.name for h in hdul] == ["PRIMARY", "TRUTH", "SIGNAL", "CRFLUX", "EVENTS"]
            np.testing.assert_array_equal(hdul["TRUTH"].data.astype(bool), sset.truth)
            np.testing.assert_array_equal(hdul["SIGNAL"].data, sset.signal)
            np.testing.assert_array_equal(hdul["CRFLUX"].data, sset.cr_flux)
            events = hdul["EVENTS"].data
            assert len(events) == len(sset.events)
            assert hdul[0].header["NMULTI"] == int(sset.multi_hit.sum())
        doubles = events[events["KIND"] == "double"]
        assert len(doubles) == 30
        for row in doubles:
            frames = [int(f) - 1 for f in row["FRAMES"].split(",")]
            assert sset.truth[frames, row["Y"] - 1, row["X"] - 1].all()
        with pytest.raises(FileExistsError, match=r"truth.fits exists"):
            write_truth(sset, path)
        with pytest.raises(FileNotFoundError, match=r"does not exist"):
            write_truth(sset, tmp_path / "missing" / "t.fits")

    def test_write_truth_without_events(self, tmp_path):
        """A set without cosmic rays gives an empty EVENTS table and an all-zero TRUTH."""
        s = make_megara_like_frames((32, 32), seed=0, cr_fraction=0, n_double_hits=0)
        path = write_truth(s, tmp_path / "t.fits")
        assert len(fits.getdata(path, "EVENTS")) == 0
        assert not fits.getdata(path, "TRUTH").any()


def test_events_caught_and_false_features_score_a_mask_against_the_truth():
    from megara_crplugin.result import Feature

    sset = make_megara_like_frames((64, 64), seed=3, n_double_hits=4)
    events = sset.double_hit_events(min_sigma=5.0)
    assert sset.events_caught(np.zeros((64, 64), bool)) == (0, len(events))
    mask = np.zeros((64, 64), bool)
    mask[events[0].ys[0], events[0].xs[0]] = True
    assert sset.events_caught(mask) == (1, len(events))
    clean = np.argwhere(~sset.truth.any(axis=0))[0]
    hit = (events[0].ys[:1], events[0].xs[:1])
    features = [
        Feature(number=1, category="only2", ys=np.array([clean[0]]), xs=np.array([clean[1]]),
                codes=np.array([2]), distance=1.0),
        Feature(number=2, category="only2", ys=hit[0], xs=hit[1], codes=np.array([2]),
                distance=1.0),
    ]  # fmt: skip
    assert sset.false_features(features) == 1
