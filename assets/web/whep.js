// A WHEP viewer of a broadcast (docs/protocol.md, "Broadcasts"): a receive-only peer connection whose offer is
// POSTed as application/sdp; the answer comes back with a Location, and DELETE on it ends the viewing.
//
// The server takes every ICE candidate from the offer (non-trickle), so the offer is sent once gathering is
// complete. The page's `?token=` goes along as a bearer token. STUN and TURN are the server's (GET /v1/ice-servers).

import { fetchIceConfig, iceGatheringComplete } from "./session.js";

const ICE_GATHERING_TIMEOUT_MS = 5000;

/** The message of a refused request: the API's `{"error": {"code", "message"}}`, or the HTTP status. */
export async function refusal(response) {
  try {
    const body = await response.json();
    if (body?.error) return `${body.error.code}: ${body.error.message}`;
  } catch {
    // not JSON: say the status
  }
  return `HTTP ${response.status}`;
}

/** Headers carrying the page's access token, if it has one. */
export function authHeaders(token, extra = {}) {
  return token ? { ...extra, Authorization: `Bearer ${token}` } : extra;
}

/**
 * Events (CustomEvent, payload in `detail`):
 *   "state"  {state: "connecting"|"live"|"ended", reason?: string}
 *   "stream" {stream: MediaStream}  audio and video of the broadcast (one stream id: the browser lip-syncs them)
 */
export class WhepViewer extends EventTarget {
  #endpoint;
  #token;
  #pc = null;
  #location = null;
  #state = "connecting";

  constructor(endpoint, token) {
    super();
    this.#endpoint = endpoint;
    this.#token = token;
  }

  get state() {
    return this.#state;
  }

  get peerConnection() {
    return this.#pc;
  }

  #setState(state, reason) {
    if (this.#state === "ended") return;
    this.#state = state;
    this.dispatchEvent(new CustomEvent("state", { detail: { state, reason } }));
  }

  async start() {
    let ice;
    try {
      ice = await fetchIceConfig(this.#withToken(this.#endpoint));
    } catch (err) {
      this.close(err.message);
      return;
    }
    const pc = new RTCPeerConnection(ice);
    this.#pc = pc;
    pc.addTransceiver("audio", { direction: "recvonly" });
    pc.addTransceiver("video", { direction: "recvonly" });
    pc.addEventListener("track", (ev) => {
      if (ev.streams[0]) this.dispatchEvent(new CustomEvent("stream", { detail: { stream: ev.streams[0] } }));
    });
    pc.addEventListener("connectionstatechange", () => {
      if (pc.connectionState === "connected") this.#setState("live");
      else if (pc.connectionState === "failed") this.close("the connection failed");
    });
    try {
      await pc.setLocalDescription(await pc.createOffer());
      await iceGatheringComplete(pc, ICE_GATHERING_TIMEOUT_MS);
      const response = await fetch(this.#endpoint, {
        method: "POST",
        headers: authHeaders(this.#token, { "Content-Type": "application/sdp" }),
        body: pc.localDescription.sdp,
      });
      if (response.status !== 201) throw new Error(await refusal(response));
      this.#location = new URL(response.headers.get("Location"), this.#endpoint).toString();
      await pc.setRemoteDescription({ type: "answer", sdp: await response.text() });
    } catch (err) {
      this.close(err.message);
    }
  }

  #withToken(path) {
    const url = new URL(path, location.href);
    if (this.#token) url.searchParams.set("token", this.#token);
    return url.toString();
  }

  /** Ends the viewing: the server's viewer is deleted (also while the page unloads). */
  close(reason = "closed") {
    if (this.#location) {
      fetch(this.#location, { method: "DELETE", headers: authHeaders(this.#token), keepalive: true }).catch(() => {});
      this.#location = null;
    }
    this.#pc?.close();
    this.#setState("ended", reason);
  }
}
