// One avatar session: the /ws signaling socket plus a receive-only peer connection (docs/protocol.md).
//
// The server takes every ICE candidate from the offer, so the offer is sent only once gathering is complete
// (non-trickle). The STUN and TURN servers are the server's own (GET /v1/ice-servers, with the page's token):
// none unless the operator configured some, so a server reached directly costs no STUN lookup.

const ICE_GATHERING_TIMEOUT_MS = 5000;
const MEDIA_CONNECT_TIMEOUT_MS = 20000;
const CLOSE_TRY_AGAIN_LATER = 1013;
const CLOSE_REASONS = {
  1000: "The server ended the session.",
  1001: "The server is shutting down.",
  1006: "The connection to the server was lost.",
  1011: "The server hit an internal error.",
};

/** The websocket URL of the page's own server, carrying the page's `?token=` along (browsers cannot set headers). */
export function sessionUrl(pageLocation, token) {
  const scheme = pageLocation.protocol === "https:" ? "wss:" : "ws:";
  const url = new URL(`${scheme}//${pageLocation.host}/ws`);
  if (token) url.searchParams.set("token", token);
  return url.toString();
}

/** The STUN and TURN servers and ICE policy of the server at `serverUrl` (ws or http; its `?token=` goes along);
 *  a server without the route (404) has none. */
export async function fetchIceConfig(serverUrl) {
  const url = new URL(serverUrl);
  url.protocol = url.protocol === "wss:" ? "https:" : "http:";
  url.pathname = "/v1/ice-servers";
  const response = await fetch(url, { cache: "no-store" });
  if (response.status === 404) return { iceServers: [], iceTransportPolicy: "all" };
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error?.message ?? `GET /v1/ice-servers answered HTTP ${response.status}`);
  return { iceServers: body.iceServers ?? [], iceTransportPolicy: body.iceTransportPolicy ?? "all" };
}

export function iceGatheringComplete(pc, timeoutMs) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener("icegatheringstatechange", onChange);
      resolve();
    };
    const onChange = () => {
      if (pc.iceGatheringState === "complete") done();
    };
    // Some networks never report "complete"; the candidates gathered by then are still worth offering.
    const timer = setTimeout(done, timeoutMs);
    pc.addEventListener("icegatheringstatechange", onChange);
  });
}

/**
 * Events (all CustomEvent, payload in `detail`):
 *   "state"   {state: "connecting"|"live"|"busy"|"disconnected", reason?: string, neverOpened?: boolean}
 *             (a `busy` error is reported here, as the busy state, once the server closes the socket)
 *   "stream"  {stream: MediaStream}  the remote audio+video stream (one stream id, so the browser lip-syncs it)
 *   "message" {message: object}      every server message, after the session has handled it
 *   "failure" {code: string, message: string}  local failures (never swallowed; the page shows them)
 */
export class Session extends EventTarget {
  #url;
  #offerFields;
  #ws = null;
  #pc = null;
  #state = "connecting";
  #opened = false;
  #answered = false;
  #busyMessage = null;
  #closedByUs = false;
  #connectTimer = null;
  #stream = null;
  #voiceTrack;

  /** `offerFields` go into the offer as they are: `avatar`, `voice`, and `mode`; in voice mode `voiceTrack` (the
   *  microphone) is sent to the server on the audio transceiver. */
  constructor(url, offerFields = {}, voiceTrack = null) {
    super();
    this.#url = url;
    this.#offerFields = { mode: "text", ...offerFields };
    this.#voiceTrack = voiceTrack;
  }

  get state() {
    return this.#state;
  }

  get peerConnection() {
    return this.#pc;
  }

  start() {
    this.#setState("connecting");
    const ws = new WebSocket(this.#url);
    this.#ws = ws;
    ws.addEventListener("open", () => {
      this.#opened = true;
      this.#negotiate().catch((err) => this.#fail("negotiation_failed", `Could not start WebRTC: ${err.message}`));
    });
    ws.addEventListener("message", (ev) => this.#onMessage(ev.data));
    ws.addEventListener("close", (ev) => this.#onClose(ev));
  }

  /** Sends one protocol message; returns false (and reports why) when the session cannot take it. */
  send(message) {
    if (!this.#ws || this.#ws.readyState !== WebSocket.OPEN) {
      this.#emit("failure", { code: "not_connected", message: `Not connected: "${message.type}" was not sent` });
      return false;
    }
    this.#ws.send(JSON.stringify(message));
    return true;
  }

  /** Ends the session (sends `bye`); `reason` is what the page shows in the disconnected state. */
  close(reason = "Disconnected.") {
    if (this.#closedByUs) return;
    this.#closedByUs = true;
    if (this.#ws && this.#ws.readyState === WebSocket.OPEN) {
      this.#ws.send(JSON.stringify({ type: "bye" }));
      this.#ws.close(1000, "bye");
    } else if (this.#ws) {
      this.#ws.close();
    }
    clearTimeout(this.#connectTimer);
    this.#teardownMedia();
    this.#setState("disconnected", { reason });
  }

  async #negotiate() {
    const ice = await fetchIceConfig(this.#url);
    const pc = new RTCPeerConnection(ice);
    this.#pc = pc;
    const iceErrors = [];
    pc.addEventListener("icecandidateerror", (ev) => iceErrors.push(`${ev.url}: ${ev.errorCode} ${ev.errorText}`));
    if (this.#voiceTrack) pc.addTransceiver(this.#voiceTrack, { direction: "sendrecv" });
    else pc.addTransceiver("audio", { direction: "recvonly" });
    pc.addTransceiver("video", { direction: "recvonly" });
    pc.addEventListener("track", (ev) => this.#onTrack(ev));
    pc.addEventListener("connectionstatechange", () => this.#onConnectionState());
    await pc.setLocalDescription(await pc.createOffer());
    await iceGatheringComplete(pc, ICE_GATHERING_TIMEOUT_MS);
    if (this.#closedByUs) return;
    if (ice.iceTransportPolicy === "relay" && !/ typ relay/.test(pc.localDescription.sdp)) {
      const why = iceErrors.length ? iceErrors.join("; ") : "no TURN server answered";
      this.#fail("ice_failed", `No relayed ICE candidate, and the server allows no other (${why}).`);
      return;
    }
    this.send({ type: "offer", sdp: pc.localDescription.sdp, ...this.#offerFields });
  }

  #onTrack(ev) {
    const stream = ev.streams[0];
    if (stream) {
      if (stream !== this.#stream) {
        this.#stream = stream;
        this.#emit("stream", { stream });
      }
      return;
    }
    // A track without a stream id: gather both tracks into one stream of our own.
    if (!this.#stream) {
      this.#stream = new MediaStream();
      this.#emit("stream", { stream: this.#stream });
    }
    this.#stream.addTrack(ev.track);
  }

  #onConnectionState() {
    const state = this.#pc.connectionState;
    if (state === "connected" && this.#answered) {
      clearTimeout(this.#connectTimer);
      this.#setState("live");
    } else if (state === "failed") {
      this.#fail("media_failed", "The media connection failed (ICE).");
    }
  }

  async #onMessage(data) {
    let message;
    try {
      message = JSON.parse(data);
    } catch (err) {
      this.#emit("failure", { code: "bad_server_json", message: `The server sent something that is not JSON: ${String(data).slice(0, 120)}` });
      return;
    }
    if (message.type === "answer") {
      await this.#acceptAnswer(message);
    } else if (message.type === "error" && message.code === "busy") {
      this.#busyMessage = message.message || "Every session on this server is in use.";
    }
    this.#emit("message", { message });
  }

  async #acceptAnswer(message) {
    try {
      await this.#pc.setRemoteDescription({ type: "answer", sdp: message.sdp });
    } catch (err) {
      this.#fail("bad_answer", `The server's answer was refused by the browser: ${err.message}`);
      return;
    }
    this.#answered = true;
    this.#onConnectionState();
    if (this.#state !== "live") {
      this.#connectTimer = setTimeout(
        () => this.#fail("media_timeout", `No media connection within ${MEDIA_CONNECT_TIMEOUT_MS / 1000} s (ICE never completed).`),
        MEDIA_CONNECT_TIMEOUT_MS,
      );
    }
  }

  #onClose(ev) {
    clearTimeout(this.#connectTimer);
    this.#teardownMedia();
    if (this.#closedByUs) return;
    if (this.#busyMessage !== null || ev.code === CLOSE_TRY_AGAIN_LATER) {
      this.#setState("busy", { reason: this.#busyMessage ?? "Every session on this server is in use." });
      return;
    }
    const said = ev.reason ? ` (${ev.code}: ${ev.reason})` : ` (code ${ev.code})`;
    const reason = this.#opened
      ? `${CLOSE_REASONS[ev.code] ?? "The server closed the session."}${said}`
      : "Could not open a session: the server is unreachable, or it needs an access token.";
    this.#setState("disconnected", { reason, neverOpened: !this.#opened });
  }

  #fail(code, message) {
    this.#emit("failure", { code, message });
    this.close(message);
  }

  #teardownMedia() {
    if (this.#pc) this.#pc.close();
  }

  #setState(state, extra = {}) {
    this.#state = state;
    this.#emit("state", { state, ...extra });
  }

  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}
