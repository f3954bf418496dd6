import numpy as np

from engines.timebase import N_PARAMS, REST, FrameParams
from server.config import MediaSettings
from server.pipeline.mouth import MouthSchedule
from server.pipeline.timeline import Cues, Timeline

RELEASE_FRAMES = MediaSettings().release_frames


def tone(n: int, value: int = 1000) -> np.ndarray:
    return np.full(n, value, dtype=np.int16)


def test_place_appends_and_respects_not_before():
    t = Timeline()
    assert t.place(tone(100), not_before=50) == 50
    assert t.place(tone(100), not_before=0) == 150  # right after the previous speech
    assert t.place(tone(10), not_before=1000) == 1000  # a later utterance after a pause
    assert t.end == 1010


def test_read_fills_silence_and_releases_played_audio():
    t = Timeline()
    t.place(tone(100, 7), not_before=10)
    out = t.read(0, 120)
    assert (out[:10] == 0).all() and (out[10:110] == 7).all() and (out[110:] == 0).all()
    assert (t.read(200, 50) == 0).all()
    assert t.buffered(200) == 0


def test_cut_fades_then_silences_and_moves_the_end():
    t = Timeline()
    t.place(tone(1000, 10000), not_before=0)
    t.place(tone(1000, 10000), not_before=0)
    end = t.cut(500, fade_samples=100)
    assert end == 600
    out = t.read(400, 400)
    assert (out[:100] == 10000).all()
    fade = out[100:200].astype(int)
    assert (np.diff(fade) <= 0).all() and fade[0] > 9000 and fade[-1] < 200
    assert (out[200:] == 0).all()
    assert t.place(tone(10), not_before=0) == 600


def test_reserve_delays_later_speech():
    t = Timeline()
    t.reserve(300)
    assert t.place(tone(10), not_before=0) == 300


def test_cues_fire_in_order_once_and_can_be_dropped():
    cues, fired = Cues(), []
    for sample, name in ((30, "b"), (10, "a"), (30, "c"), (90, "d")):
        cues.at(sample, lambda name=name: fired.append(name))
    cues.fire_until(30)
    assert fired == ["a"]
    cues.drop_from(50)
    cues.fire_until(1000)
    assert fired == ["a", "b", "c"]


def test_mouth_schedule_shows_params_then_releases_in_two_frames():
    m = MouthSchedule(RELEASE_FRAMES)
    open_mouth = np.full(N_PARAMS, 0.8, dtype=np.float32)
    m.add(FrameParams(5, np.stack([open_mouth] * 3)))
    assert np.allclose(m.take(4), REST)
    assert np.allclose(m.take(5), open_mouth)
    m.clear_from(6)
    shown = [m.take(6 + i) for i in range(RELEASE_FRAMES)]
    assert np.allclose(shown[0], open_mouth * 0.25), "ease-out: a quarter of the opening left after one of two frames"
    assert np.allclose(shown[-1], REST)


def test_mouth_schedule_forgets_past_frames():
    m = MouthSchedule(RELEASE_FRAMES)
    m.add(FrameParams(0, np.ones((10, N_PARAMS), dtype=np.float32)))
    m.take(9)
    assert m.scheduled() == 0
    m.add(FrameParams(3, np.ones((2, N_PARAMS), dtype=np.float32)))  # already past: ignored
    assert m.scheduled() == 0
