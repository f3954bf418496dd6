from server.admission import Admission, LatenessWindow


def test_lateness_window_counts_recent_frames_only():
    window = LatenessWindow(window_s=5)
    for i in range(100):
        window.record(late=i < 10, now=1000.0)
    assert window.late_fraction(now=1000.5) == 0.1
    for _ in range(100):
        window.record(late=False, now=1003.0)
    assert window.late_fraction(now=1003.0) == 0.05
    assert window.late_fraction(now=1006.0) == 0.0


def test_admission_by_count_and_by_headroom():
    fixed = Admission(max_sessions=2, by_headroom=False, max_late_fraction=0.01, window_s=5.0)
    assert fixed.refusal(1) is None
    assert "full" in fixed.refusal(2)
    measured = Admission(max_sessions=10, by_headroom=True, max_late_fraction=0.01, window_s=5.0)
    for _ in range(50):
        measured.lateness.record(late=False)
    assert measured.refusal(3) is None
    measured.lateness.record(late=True)
    assert "headroom" in measured.refusal(3)
