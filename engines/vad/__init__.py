"""Voice activity in a live stream (voice mode): where speech starts and where it stopped, on the timeline."""
