// live.js: the events long-poll: another client's input, new weights,
// feature-visualization progress and network changes show here within a
// second of happening. Without an events route (an older server) it stops.

const RETRY_MS = 2000;
const QUICK_MS = 100; // an empty answer faster than this did not wait (an older server): pause before the next

export class Live {
  constructor(protocol, onEvent, onReset) {
    this.protocol = protocol;
    this.onEvent = onEvent;
    this.onReset = onReset;
    this.connected = false;
    this.abort = new AbortController();
  }

  async run() {
    let since = 0;
    while (!this.abort.signal.aborted) {
      try {
        const began = performance.now();
        const answer = await this.protocol.events(since, this.abort.signal);
        this.connected = true;
        if (!answer.events.length && since !== 0 && performance.now() - began < QUICK_MS) {
          await new Promise((resolve) => setTimeout(resolve, 500));
        }
        if (answer.reset && since !== 0) await this.onReset();
        since = answer.seq;
        for (const event of answer.events) {
          try { await this.onEvent(event); } catch (error) { console.error("event", event, error); }
        }
      } catch (error) {
        if (this.abort.signal.aborted) return;
        this.connected = false;
        if (error.status === 404) return; // a server without events: nothing live
        await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
      }
    }
  }

  stop() { this.abort.abort(); }
}
