"""The soak tool, for a short time (CI): sessions talking with pauses, one reconnecting, keep their frame rate, the
measured session's two tracks keep their sync, and the server's memory stays bounded. The hour-long run is recorded
in docs/benchmarks.md. The phoneme face driver moves the mouth here, so that the vowel onsets are measurable
whatever state the audio-to-face network's weights are in."""
from __future__ import annotations

from tools import soak

# A short run's memory includes the first utterances filling caches; the hour-long run shows the trend.
MAX_SHORT_RUN_GROWTH_MB = 100.0
MAX_SKEW_DRIFT_MS = 10.0
MAX_ONSET_OFFSET_MS = 60.0
# The supervisor alone takes under 100 MB; its worker processes (one per core by default) several hundred each.
MIN_TREE_RSS_MB = 300.0


async def test_short_soak_keeps_rate_sync_and_memory():
    result = await soak.run(soak.parse_args([
        "--seconds", "16", "--sample-s", "4", "--vowel-rounds", "1", "--reconnect-s", "5", "--sessions", "2",
        "--settle-s", "8", "--server-arg=--face-driver=phonemes",
    ]))
    assert not result["errors"] and not result["reconnect_failures"]
    assert result["reconnects"] >= 2
    assert result["fps_median"] >= 23.0, result["intervals"]
    assert all(i["client_missing_frames"] <= 4 for i in result["intervals"]), result["intervals"]
    for probe in (result["sync_start"], result["sync_end"]):
        assert probe["offset_ms"]["n"] >= 3, probe
        assert abs(probe["offset_ms"]["median"]) <= MAX_ONSET_OFFSET_MS, probe
    assert abs(result["playout_skew_drift_ms"]) <= MAX_SKEW_DRIFT_MS
    assert result["memory"]["growth_mb"] < MAX_SHORT_RUN_GROWTH_MB, result["memory"]
    assert result["intervals"][0]["server_rss_mb"] > MIN_TREE_RSS_MB  # the workers' memory is counted
