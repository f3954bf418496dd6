// Receive-side numbers from RTCPeerConnection.getStats(), sampled once a second.
//
// Jitter-buffer delays are computed over the last interval (delta of the cumulative counters), so the panel shows
// what the buffer does now rather than an average since the call began.

const INTERVAL_MS = 1000;

function inbound(report, kind) {
  for (const entry of report.values()) {
    if (entry.type === "inbound-rtp" && entry.kind === kind) return entry;
  }
  return null;
}

function selectedPair(report) {
  for (const entry of report.values()) {
    if (entry.type === "transport" && entry.selectedCandidatePairId) return report.get(entry.selectedCandidatePairId);
  }
  for (const entry of report.values()) {
    if (entry.type === "candidate-pair" && entry.nominated && entry.state === "succeeded") return entry;
  }
  return null;
}

/** Milliseconds per emitted sample over the interval; falls back to the lifetime average at the start. */
function bufferDelayMs(now, before) {
  if (!now || !now.jitterBufferEmittedCount) return null;
  const emitted = now.jitterBufferEmittedCount - (before?.jitterBufferEmittedCount ?? 0);
  const delay = now.jitterBufferDelay - (before?.jitterBufferDelay ?? 0);
  return emitted > 0 ? (1000 * delay) / emitted : (1000 * now.jitterBufferDelay) / now.jitterBufferEmittedCount;
}

function rate(now, before, field, seconds) {
  if (!now || !before || seconds <= 0) return null;
  return (now[field] - before[field]) / seconds;
}

/**
 * Calls `onSample` every second with
 * {fps, framesDropped, width, height, videoBufferMs, audioBufferMs, roundTripMs, bitrateKbps, packetsLost, codec}
 * (null where the browser does not report a number yet).
 */
export class StatsMonitor {
  #pc;
  #onSample;
  #onFailure;
  #timer = null;
  #previous = { video: null, audio: null, at: 0 };

  constructor(pc, onSample, onFailure) {
    this.#pc = pc;
    this.#onSample = onSample;
    this.#onFailure = onFailure;
  }

  start() {
    this.#timer = setInterval(() => this.#sample(), INTERVAL_MS);
  }

  stop() {
    clearInterval(this.#timer);
  }

  async #sample() {
    let report;
    try {
      report = await this.#pc.getStats();
    } catch (err) {
      this.stop();
      this.#onFailure(`getStats() failed: ${err.message}`);
      return;
    }
    const at = performance.now();
    const video = inbound(report, "video");
    const audio = inbound(report, "audio");
    const pair = selectedPair(report);
    const seconds = (at - this.#previous.at) / 1000;
    const prev = this.#previous;
    const bytesPerSecond = (rate(video, prev.video, "bytesReceived", seconds) ?? 0) + (rate(audio, prev.audio, "bytesReceived", seconds) ?? 0);
    this.#onSample({
      fps: video?.framesPerSecond ?? rate(video, prev.video, "framesDecoded", seconds),
      framesDropped: video?.framesDropped ?? null,
      width: video?.frameWidth ?? null,
      height: video?.frameHeight ?? null,
      videoBufferMs: bufferDelayMs(video, prev.video),
      audioBufferMs: bufferDelayMs(audio, prev.audio),
      roundTripMs: pair?.currentRoundTripTime != null ? pair.currentRoundTripTime * 1000 : null,
      bitrateKbps: prev.video ? (8 * bytesPerSecond) / 1000 : null,
      packetsLost: video || audio ? (video?.packetsLost ?? 0) + (audio?.packetsLost ?? 0) : null,
      codec: video?.codecId ? report.get(video.codecId)?.mimeType.replace("video/", "") ?? null : null,
    });
    this.#previous = { video, audio, at };
  }
}
